import CLibXML2

/// A policy file as read: the root element plus what surrounds it.
public struct PolicyFile: Sendable, Hashable {
    /// The XML declaration exactly as written (`<?xml version="1.0" encoding="utf-8"?>`), if any.
    public var declaration: String?
    /// Comments before the root element, in order (content without `<!--`/`-->`).
    public var leadingComments: [String]
    /// `policies` or `fragment`.
    public var root: XMLElement
    /// Comments after the root element.
    public var trailingComments: [String]
    /// Every whole-value expression, in document order.
    public var expressions: [PolicyExpression]

    public init(
        declaration: String? = nil, leadingComments: [String] = [], root: XMLElement, trailingComments: [String] = [],
        expressions: [PolicyExpression] = []
    ) {
        self.declaration = declaration
        self.leadingComments = leadingComments
        self.root = root
        self.trailingComments = trailingComments
        self.expressions = expressions
    }

    /// `.escaped` when the file was well-formed XML as written (every expression escaped), `.raw`
    /// when it used APIM's raw format. `fmt` keeps the file in the format it was in.
    public var sourceFormat: XMLWriter.Format {
        expressions.allSatisfy(\.isWellFormedXML) ? .escaped : .raw
    }
}

/// Reads real policy files: APIM's raw format (unescaped C# expressions) as well as well-formed XML.
///
/// Expressions that are a whole attribute value or a whole element text are found with a C# lexer
/// (`ExpressionLexer`) and replaced by placeholders; the rest is parsed by libxml2 (no network, no
/// entity expansion, no DOCTYPE) and the expressions are put back. Every element and attribute
/// carries its position; every error is a `PolicyParseError` at `file:line:column` of the original text.
/// Safe to call from several threads at once.
public enum PolicyReader {
    /// Parses a policy document or fragment and returns its root element (`policies` or `fragment`).
    public static func parse(_ data: [UInt8], path: String) throws(PolicyParseError) -> XMLElement {
        try parseDocument(data, path: path).root
    }

    /// Parses a policy file and returns the whole document (declaration, comments around the root, expressions).
    public static func parseDocument(_ data: [UInt8], path: String, requirePolicyRoot: Bool = true) throws(PolicyParseError)
        -> PolicyFile
    {
        var bytes = data
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        let lines = LineTable(bytes)
        func fail(_ kind: PolicyParseError.Kind, _ offset: Int, _ message: String, _ notes: [(Int, String)] = [])
            -> PolicyParseError
        {
            let position = lines.position(of: offset)
            return PolicyParseError(
                kind: kind, file: path, line: position.line, column: position.column, message: message,
                notes: notes.map { "\(path):\(lines.position(of: $0.0)): \($0.1)" })
        }
        if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) {
            throw fail(.encoding, 0, "the file is UTF-16; policy files must be UTF-8")
        }
        if let bad = firstInvalidUTF8(bytes) {
            throw fail(.encoding, bad, "the file is not valid UTF-8 (byte 0x\(String(bytes[bad], radix: 16, uppercase: true)))")
        }
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            throw fail(.structure, 0, "the file is empty")
        }
        let scanned: ScannedDocument
        do {
            scanned = try ExpressionScanner.scan(bytes, lines: lines)
        } catch {
            throw fail(error.kind, error.offset, error.message, error.related.map { ($0.offset, $0.message) })
        }
        func failAt(_ kind: PolicyParseError.Kind, line: Int, column: Int, _ message: String) -> PolicyParseError {
            let placeholderLines = LineTable(scanned.text)
            let offset = scanned.originalOffset(of: placeholderLines.offset(line: line, column: column))
            return fail(kind, offset, message)
        }
        return try LibXML2.withDocument(scanned.text, path: path, fail: failAt) { doc throws(PolicyParseError) in
            var builder = TreeBuilder(scanned: scanned, doc: doc, path: path, fail: fail)
            return try builder.build(requirePolicyRoot: requirePolicyRoot)
        }
    }

    /// The offset of the first byte that is not part of valid UTF-8, if any.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var i = 0
        let n = bytes.count
        while i < n {
            let c = bytes[i]
            if c < 0x80 { i += 1; continue }
            let length: Int
            var minimum: UInt32
            var scalar: UInt32
            switch c {
            case 0xC2...0xDF: length = 2; minimum = 0x80; scalar = UInt32(c & 0x1F)
            case 0xE0...0xEF: length = 3; minimum = 0x800; scalar = UInt32(c & 0x0F)
            case 0xF0...0xF4: length = 4; minimum = 0x10000; scalar = UInt32(c & 0x07)
            default: return i
            }
            guard i + length <= n else { return i }
            for k in 1..<length {
                let next = bytes[i + k]
                guard next & 0xC0 == 0x80 else { return i }
                scalar = scalar << 6 | UInt32(next & 0x3F)
            }
            if scalar < minimum || scalar > 0x10FFFF || (0xD800...0xDFFF).contains(scalar) { return i }
            i += length
        }
        return nil
    }
}

/// Everything that touches libxml2's C API.
enum LibXML2 {
    /// `xmlInitParser` must run once before threads use the parser.
    private static let initialized: Bool = {
        xmlInitParser()
        return true
    }()

    /// Collects the errors of one parser context (reached through `ctxt->_private`).
    final class ErrorSink {
        var errors: [(level: Int, line: Int, column: Int, message: String)] = []
    }

    static func withDocument<T>(
        _ text: [UInt8], path: String,
        fail: (PolicyParseError.Kind, _ line: Int, _ column: Int, String) -> PolicyParseError,
        body: (xmlDocPtr) throws(PolicyParseError) -> T
    ) throws(PolicyParseError) -> T {
        _ = initialized
        guard let ctxt = xmlNewParserCtxt() else {
            throw fail(.syntax, 1, 1, "libxml2 could not create a parser")
        }
        defer { xmlFreeParserCtxt(ctxt) }
        let sink = ErrorSink()
        ctxt.pointee._private = Unmanaged.passUnretained(sink).toOpaque()
        // Errors go to this context's structured handler, never to stderr or to global state.
        ctxt.pointee.sax.pointee.serror = { userData, error in
            guard let userData, let error else { return }
            let context = userData.assumingMemoryBound(to: xmlParserCtxt.self)
            guard let raw = context.pointee._private else { return }
            let sink = Unmanaged<ErrorSink>.fromOpaque(raw).takeUnretainedValue()
            let message = error.pointee.message.map { String(cString: $0) } ?? "XML error"
            sink.errors.append(
                (Int(error.pointee.level.rawValue), Int(error.pointee.line), Int(error.pointee.int2), message))
        }
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOWARNING.rawValue)
        let doc = text.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                xmlCtxtReadMemory(ctxt, chars.baseAddress, Int32(chars.count), path, "UTF-8", options)
            }
        }
        defer { if let doc { xmlFreeDoc(doc) } }
        let failure = sink.errors.first(where: { $0.level >= Int(XML_ERR_ERROR.rawValue) })
        if doc == nil || ctxt.pointee.wellFormed == 0 || failure != nil {
            let error = failure ?? sink.errors.first ?? (Int(XML_ERR_FATAL.rawValue), 1, 1, "the file is not well-formed XML")
            var message = error.message
            while message.last == "\n" || message.last == " " { message.removeLast() }
            let kind: PolicyParseError.Kind =
                message.contains("not defined") || message.contains("DOCTYPE") || message.contains("ENTITY") ? .doctype
                : message.contains("mismatch") ? .tagMismatch : .syntax
            throw fail(kind, max(error.line, 1), max(error.column, 1), message)
        }
        return try body(doc!)
    }
}

/// Turns a libxml2 tree into `XMLElement`s, restoring expressions and attaching source positions.
private struct TreeBuilder {
    let scanned: ScannedDocument
    let doc: xmlDocPtr
    let path: String
    let fail: (PolicyParseError.Kind, Int, String, [(Int, String)]) -> PolicyParseError
    var nextTag = 0

    init(
        scanned: ScannedDocument, doc: xmlDocPtr, path: String,
        fail: @escaping (PolicyParseError.Kind, Int, String, [(Int, String)]) -> PolicyParseError
    ) {
        self.scanned = scanned
        self.doc = doc
        self.path = path
        self.fail = fail
    }

    mutating func build(requirePolicyRoot: Bool) throws(PolicyParseError) -> PolicyFile {
        var leading: [String] = []
        var trailing: [String] = []
        var root: XMLElement?
        var node = doc.pointee.children
        while let current = node {
            switch current.pointee.type {
            case XML_ELEMENT_NODE:
                root = try element(current)
            case XML_COMMENT_NODE:
                let content = Self.string(current.pointee.content)
                if root == nil { leading.append(content) } else { trailing.append(content) }
            case XML_PI_NODE:
                throw fail(
                    .structure, scanned.processingInstructions.first ?? 0,
                    "processing instructions are not supported in policy files", [])
            case XML_DTD_NODE:
                throw fail(.doctype, 0, "DOCTYPE declarations are not allowed in policy files", [])
            default:
                break
            }
            node = current.pointee.next
        }
        guard let root else { throw fail(.structure, 0, "the file has no root element", []) }
        if requirePolicyRoot && root.name != "policies" && root.name != "fragment" {
            throw fail(
                .structure, scanned.startTags.first?.offset ?? 0,
                "the root element must be <policies> or <fragment>, not <\(root.name)>", [])
        }
        return PolicyFile(
            declaration: scanned.declaration, leadingComments: leading, root: root, trailingComments: trailing,
            expressions: scanned.expressions)
    }

    private mutating func element(_ node: xmlNodePtr) throws(PolicyParseError) -> XMLElement {
        var name = Self.string(node.pointee.name)
        if let prefix = node.pointee.ns?.pointee.prefix { name = Self.string(prefix) + ":" + name }
        guard nextTag < scanned.startTags.count, scanned.startTags[nextTag].name == name else {
            throw fail(.structure, 0, "internal error: the reader lost track of element <\(name)>", [])
        }
        let tag = scanned.startTags[nextTag]
        nextTag += 1
        var values: [String: String] = [:]
        var attribute = node.pointee.properties
        while let current = attribute {
            var attributeName = Self.string(current.pointee.name)
            if let prefix = current.pointee.ns?.pointee.prefix { attributeName = Self.string(prefix) + ":" + attributeName }
            var value = ""
            var child = current.pointee.children
            while let text = child {
                value += Self.string(text.pointee.content)
                child = text.pointee.next
            }
            values[attributeName] = value
            attribute = current.pointee.next
        }
        var namespace = node.pointee.nsDef
        while let current = namespace {
            let key = current.pointee.prefix.map { "xmlns:" + Self.string($0) } ?? "xmlns"
            values[key] = Self.string(current.pointee.href)
            namespace = current.pointee.next
        }
        var attributes: [XMLAttribute] = []
        attributes.reserveCapacity(tag.attributes.count)
        for scannedAttribute in tag.attributes {
            let position = scanned.position(of: scannedAttribute.offset)
            if let index = scannedAttribute.expression {
                attributes.append(XMLAttribute(scannedAttribute.name, scanned.expressions[index].value, position: position))
            } else if var value = values[scannedAttribute.name] {
                // Whitespace around a whole-value expression is not part of it (as for scanned ones).
                if value.isPolicyExpression { value = value.trimmingXMLWhitespace() }
                try checkNotHalfExpression(value, at: scannedAttribute.offset, what: "attribute '\(scannedAttribute.name)'")
                attributes.append(XMLAttribute(scannedAttribute.name, value, position: position))
            } else {
                throw fail(
                    .structure, scannedAttribute.offset,
                    "internal error: the reader lost attribute '\(scannedAttribute.name)'", [])
            }
        }
        var children: [XMLNode] = []
        var child = node.pointee.children
        while let current = child {
            switch current.pointee.type {
            case XML_ELEMENT_NODE:
                children.append(.element(try element(current)))
            case XML_TEXT_NODE:
                let text = Self.string(current.pointee.content)
                if !text.utf8.contains(ExpressionScanner.markerOpen[0]) {
                    try checkNotHalfExpression(text, at: tag.offset, what: "the text of <\(name)>")
                }
                children.append(.text(restore(text)))
            case XML_CDATA_SECTION_NODE:
                children.append(.cdata(Self.string(current.pointee.content)))
            case XML_COMMENT_NODE:
                children.append(.comment(Self.string(current.pointee.content)))
            case XML_PI_NODE:
                let offset = scanned.processingInstructions.first(where: { $0 > tag.offset }) ?? tag.offset
                throw fail(.structure, offset, "processing instructions are not supported inside <\(name)>", [])
            case XML_ENTITY_REF_NODE:
                throw fail(.doctype, tag.offset, "entity references are not allowed in policy files", [])
            default:
                break
            }
            child = current.pointee.next
        }
        return XMLElement(name, attributes: attributes, children: children, position: scanned.position(of: tag.offset))
    }

    /// A value that starts like an expression (`@(`, `@{`) must be exactly one complete expression:
    /// APIM compiles it as C#, so `@(a) + @(b)` or a half-deleted `@{ … ` is an error, not text.
    private func checkNotHalfExpression(_ value: String, at offset: Int, what: String) throws(PolicyParseError) {
        guard let first = value.utf8.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }), first == 0x40
        else { return }
        let trimmed = value.trimmingXMLWhitespace()
        guard trimmed.hasPrefix("@(") || trimmed.hasPrefix("@{"), !trimmed.isPolicyExpression else { return }
        let bytes = Array(trimmed.utf8)
        var reason = "it continues after the expression ends"
        do {
            _ = try ExpressionLexer.expressionEnd(in: bytes, from: 0)
        } catch {
            reason = error.message
        }
        throw fail(.expression, offset, "\(what) starts with an expression but is not one complete expression (\(reason))", [])
    }

    /// Puts expressions back in place of their placeholders (and the line breaks that follow them).
    private func restore(_ text: String) -> String {
        let open = ExpressionScanner.markerOpen
        guard text.utf8.count >= open.count, text.utf8.contains(open[0]) else { return text }
        let bytes = Array(text.utf8)
        guard ExpressionLexer.find(open, in: bytes, from: 0) != nil else { return text }
        var output: [UInt8] = []
        var i = 0
        while let start = ExpressionLexer.find(open, in: bytes, from: i) {
            output.append(contentsOf: bytes[i..<start])
            var j = start + open.count
            var index = 0
            while j < bytes.count, bytes[j] >= 0x30, bytes[j] <= 0x39 {
                index = index * 10 + Int(bytes[j] - 0x30)
                j += 1
            }
            j += ExpressionScanner.markerClose.count
            let expression = scanned.expressions[index]
            let breaks = expression.source.utf8.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            var skipped = 0
            while skipped < breaks, j < bytes.count, bytes[j] == 0x0A {
                j += 1
                skipped += 1
            }
            output.append(contentsOf: expression.value.utf8)
            i = j
        }
        output.append(contentsOf: bytes[i...])
        return String(decoding: output, as: UTF8.self)
    }

    private static func string(_ pointer: UnsafePointer<xmlChar>?) -> String {
        guard let pointer else { return "" }
        return String(cString: pointer)
    }

    private static func string(_ pointer: UnsafeMutablePointer<xmlChar>?) -> String {
        guard let pointer else { return "" }
        return String(cString: pointer)
    }
}

extension ScannedDocument {
    /// The line and column of an offset in the original text.
    func position(of offset: Int) -> SourcePosition {
        originalLines.position(of: offset)
    }
}
