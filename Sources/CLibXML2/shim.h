#ifndef TOLLGATE_CLIBXML2_SHIM_H
#define TOLLGATE_CLIBXML2_SHIM_H

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlsave.h>

/// `xmlFree` is a global function pointer, which Swift 6 rejects as shared mutable state.
static inline void tollgate_xmlFree(void *pointer) { xmlFree(pointer); }

#endif
