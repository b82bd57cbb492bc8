#ifndef TOLLGATE_CLIBXML2_SHIM_H
#define TOLLGATE_CLIBXML2_SHIM_H

/* Debian's libxml2 is built with ICU; its headers would then include the system's ICU headers,
 * which clash with the ICU copy inside Foundation. Tollgate never touches ICU-specific fields, so
 * the ICU parts of the headers are switched off (only struct members behind pointers change). */
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlsave.h>

/// `xmlFree` is a global function pointer, which Swift 6 rejects as shared mutable state.
static inline void tollgate_xmlFree(void *pointer) { xmlFree(pointer); }

#endif
