import CLibXML2
import Foundation

/// Validates policy XML against an XSD with libxml2 (no network access, no DOCTYPE, no entity
/// expansion). Used to check generated documents against Microsoft's published policy schemas.
public final class SchemaValidator: @unchecked Sendable {
    /// A schema or document error reported by libxml2.
    public struct Issue: Error, Sendable, Hashable, CustomStringConvertible {
        public var line: Int
        public var message: String

        public var description: String { "\(line): \(message)" }
    }

    private let schema: xmlSchemaPtr
    /// Parsing installs a process-wide structured error handler (libxml2 2.9 has no per-context one
    /// for the parser), so parses and validations are serialized.
    private static let lock = NSLock()

    /// Loads the schema at `path` (and the files it includes).
    public init(schemaPath: String) throws {
        guard FileManager.default.fileExists(atPath: schemaPath) else {
            throw Issue(line: 0, message: "schema not found: \(schemaPath)")
        }
        guard let parser = xmlSchemaNewParserCtxt(schemaPath) else {
            throw Issue(line: 0, message: "cannot read schema \(schemaPath)")
        }
        defer { xmlSchemaFreeParserCtxt(parser) }
        let collector = IssueCollector()
        xmlSchemaSetParserStructuredErrors(parser, collectIssue, Unmanaged.passUnretained(collector).toOpaque())
        guard let parsed = xmlSchemaParse(parser) else {
            throw collector.issues.first ?? Issue(line: 0, message: "schema \(schemaPath) does not compile")
        }
        schema = parsed
    }

    deinit { xmlSchemaFree(schema) }

    /// Problems found in `xml` (well-formedness first, then the schema); empty when it is valid.
    public func validate(_ xml: String) -> [Issue] {
        Self.withDocument(xml) { document, collector, context in
            guard let validation = xmlSchemaNewValidCtxt(schema) else { return [Issue(line: 0, message: "out of memory")] }
            defer { xmlSchemaFreeValidCtxt(validation) }
            xmlSchemaSetValidStructuredErrors(validation, collectIssue, context)
            let result = xmlSchemaValidateDoc(validation, document)
            if result != 0 && collector.issues.isEmpty {
                return [Issue(line: 0, message: "document does not match the schema (libxml2 code \(result))")]
            }
            return collector.issues
        }
    }

    /// Problems that make `xml` not well-formed XML (or carry a DOCTYPE); empty when it parses.
    public static func wellFormednessIssues(_ xml: String) -> [Issue] {
        withDocument(xml) { _, collector, _ in collector.issues }
    }

    /// Parses `xml` with network access, DOCTYPEs and entity expansion off, then runs `body`.
    private static func withDocument(
        _ xml: String, _ body: (xmlDocPtr, IssueCollector, UnsafeMutableRawPointer) -> [Issue]
    ) -> [Issue] {
        lock.lock()
        defer { lock.unlock() }
        let collector = IssueCollector()
        let context = Unmanaged.passUnretained(collector).toOpaque()
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue)
        guard let parserContext = xmlNewParserCtxt() else { return [Issue(line: 0, message: "out of memory")] }
        defer { xmlFreeParserCtxt(parserContext) }
        xmlCtxtUseOptions(parserContext, options)
        let document: xmlDocPtr? = xml.withCString { pointer in
            xmlSetStructuredErrorFunc(context, collectIssue)
            defer { xmlSetStructuredErrorFunc(nil, nil) }
            return xmlCtxtReadMemory(parserContext, pointer, Int32(strlen(pointer)), "policy.xml", "UTF-8", options)
        }
        guard let document else {
            return collector.issues.isEmpty ? [Issue(line: 0, message: "not well-formed XML")] : collector.issues
        }
        defer { xmlFreeDoc(document) }
        if document.pointee.intSubset != nil {
            return [Issue(line: 1, message: "DOCTYPE declarations are not allowed in policy documents")]
        }
        return body(document, collector, context)
    }
}

/// Receives libxml2's structured errors for one operation.
private final class IssueCollector {
    var issues: [SchemaValidator.Issue] = []
}

private func collectIssue(_ context: UnsafeMutableRawPointer?, _ error: xmlErrorPtr?) {
    guard let context, let error else { return }
    let collector = Unmanaged<IssueCollector>.fromOpaque(context).takeUnretainedValue()
    let message = error.pointee.message.map { String(cString: $0) }?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown error"
    collector.issues.append(SchemaValidator.Issue(line: Int(error.pointee.line), message: message))
}

extension XMLElement {
    /// A copy in which every attribute value and element text that is a policy expression is
    /// replaced by `replacement` — how Microsoft's XSDs expect expressions to look.
    public func replacingExpressions(with replacement: String = "@(x)") -> XMLElement {
        var copy = self
        copy.attributes = attributes.map { $0.value.isPolicyExpression ? XMLAttribute($0.name, replacement) : $0 }
        copy.children = children.map { node in
            switch node {
            case .element(let element): .element(element.replacingExpressions(with: replacement))
            case .text(let text) where text.isPolicyExpression: .text(replacement)
            default: node
            }
        }
        return copy
    }

    /// The document as Microsoft's policy XSD can check it: expressions replaced, and a `<fragment>`
    /// (which that schema does not describe) presented as the `<inbound>` section of `<policies>`.
    public func schemaView() -> XMLElement {
        let root = replacingExpressions()
        guard root.name == "fragment" else { return root }
        return XMLElement("policies", children: [.element(XMLElement("inbound", children: root.children))])
    }
}
