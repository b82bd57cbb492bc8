/// An expression found in a policy file.
public struct PolicyExpression: Sendable, Hashable {
    /// Where the expression stands.
    public enum Context: Sendable, Hashable {
        /// The whole value of this attribute.
        case attribute(String)
        /// The whole text of an element.
        case text
    }

    /// The expression exactly as written in the file.
    public var source: String
    /// The logical value stored in the tree: `source` with CRLF folded to LF, and XML references
    /// decoded when the source was written as well-formed (escaped) XML.
    public var value: String
    public var context: Context
    public var position: SourcePosition
    /// False when the source is not valid XML in its place (raw `<`, `&`, or the attribute's quote).
    public var isWellFormedXML: Bool
}

/// Byte offsets in the scanned text turned into line and column (1-based; columns count Unicode scalars).
struct LineTable {
    private let starts: [Int]
    private let bytes: [UInt8]

    init(_ bytes: [UInt8]) {
        var starts = [0]
        for (index, byte) in bytes.enumerated() where byte == 0x0A { starts.append(index + 1) }
        self.starts = starts
        self.bytes = bytes
    }

    func position(of offset: Int) -> SourcePosition {
        let offset = max(0, min(offset, bytes.count))
        var low = 0
        var high = starts.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if starts[mid] <= offset { low = mid } else { high = mid - 1 }
        }
        var column = 1
        var i = starts[low]
        while i < offset {
            if bytes[i] & 0xC0 != 0x80 { column += 1 }
            i += 1
        }
        return SourcePosition(line: low + 1, column: column)
    }

    /// The byte offset of a line and a column counted in Unicode scalars (clamped to the line).
    func offset(line: Int, column: Int) -> Int {
        guard line >= 1 else { return 0 }
        guard line <= starts.count else { return bytes.count }
        var i = starts[line - 1]
        var remaining = column - 1
        while remaining > 0 && i < bytes.count && bytes[i] != 0x0A {
            i += 1
            while i < bytes.count && bytes[i] & 0xC0 == 0x80 { i += 1 }
            remaining -= 1
        }
        return i
    }
}

/// The structure of a policy file as seen before libxml2: expressions replaced by placeholders,
/// start tags with their positions, and a map from placeholder offsets back to the original.
struct ScannedDocument {
    struct Attribute {
        var name: String
        var offset: Int
        var expression: Int?
    }

    struct StartTag {
        var name: String
        var offset: Int
        var attributes: [Attribute]
    }

    /// A replaced range: `placeholder` bytes at `placeholderStart` stand for `originalLength` bytes.
    struct Segment {
        var placeholderStart: Int
        var placeholderLength: Int
        var originalStart: Int
        var originalLength: Int
    }

    var text: [UInt8]
    var originalLines: LineTable
    var expressions: [PolicyExpression] = []
    var startTags: [StartTag] = []
    var segments: [Segment] = []
    var declaration: String?
    /// Offsets of processing instructions other than the XML declaration.
    var processingInstructions: [Int] = []

    /// The original offset of a placeholder-text offset.
    func originalOffset(of offset: Int) -> Int {
        var low = 0
        var high = segments.count - 1
        var found = -1
        while low <= high {
            let mid = (low + high) / 2
            if segments[mid].placeholderStart <= offset { found = mid; low = mid + 1 } else { high = mid - 1 }
        }
        guard found >= 0 else { return offset }
        let segment = segments[found]
        if offset < segment.placeholderStart + segment.placeholderLength { return segment.originalStart }
        return segment.originalStart + segment.originalLength + (offset - segment.placeholderStart - segment.placeholderLength)
    }
}

/// A scanning problem at a byte offset of the original text.
struct ScanError: Error {
    var kind: PolicyParseError.Kind
    var offset: Int
    var message: String
    var related: [(offset: Int, message: String)] = []
}

/// Finds the XML structure and every whole-value expression of a policy file.
struct ExpressionScanner {
    /// Marks placeholders: U+E000 index U+E001 (private-use characters).
    static let markerOpen: [UInt8] = [0xEE, 0x80, 0x80]
    static let markerClose: [UInt8] = [0xEE, 0x80, 0x81]

    private let b: [UInt8]
    private let lines: LineTable
    private var output: [UInt8] = []
    private var copied = 0
    private var result: ScannedDocument
    private var stack: [(name: String, offset: Int)] = []

    init(_ bytes: [UInt8], lines: LineTable) {
        self.b = bytes
        self.lines = lines
        self.result = ScannedDocument(text: [], originalLines: lines)
        output.reserveCapacity(bytes.count)
    }

    static func scan(_ bytes: [UInt8], lines: LineTable) throws(ScanError) -> ScannedDocument {
        var scanner = ExpressionScanner(bytes, lines: lines)
        try scanner.run()
        return scanner.result
    }

    private mutating func run() throws(ScanError) {
        let n = b.count
        if let offset = ExpressionLexer.find(Self.markerOpen, in: b, from: 0) {
            throw ScanError(kind: .structure, offset: offset, message: "the private-use character U+E000 is not supported in policy files")
        }
        var i = 0
        if hasPrefix("<?xml", at: 0), n > 5, isSpace(b[5]) {
            guard let end = ExpressionLexer.find(Array("?>".utf8), in: b, from: 5) else {
                throw ScanError(kind: .syntax, offset: 0, message: "XML declaration is not closed with '?>'")
            }
            result.declaration = String(decoding: b[0..<(end + 2)], as: UTF8.self)
            i = end + 2
        }
        while i < n {
            guard b[i] == lt else {
                i += 1
                continue
            }
            if hasPrefix("<!--", at: i) {
                guard let end = ExpressionLexer.find(Array("-->".utf8), in: b, from: i + 4) else {
                    throw ScanError(kind: .syntax, offset: i, message: "comment is never closed with '-->'")
                }
                if let dashes = ExpressionLexer.find(Array("--".utf8), in: b, from: i + 4), dashes < end {
                    throw ScanError(
                        kind: .syntax, offset: dashes,
                        message: "'--' is not allowed inside a comment (is the comment above missing its '-->'?)",
                        related: [(i, "the comment starts here")])
                }
                i = end + 3
            } else if hasPrefix("<![CDATA[", at: i) {
                guard let end = ExpressionLexer.find(Array("]]>".utf8), in: b, from: i + 9) else {
                    throw ScanError(kind: .syntax, offset: i, message: "CDATA section is never closed with ']]>'")
                }
                i = end + 3
            } else if hasPrefix("<!DOCTYPE", at: i) || hasPrefix("<!doctype", at: i) {
                throw ScanError(
                    kind: .doctype, offset: i,
                    message: "DOCTYPE declarations are not allowed in policy files (no DTDs, no entity definitions)")
            } else if hasPrefix("<!", at: i) {
                i += 2  // libxml2 reports what this is
                continue
            } else if hasPrefix("<?", at: i) {
                guard let end = ExpressionLexer.find(Array("?>".utf8), in: b, from: i + 2) else {
                    throw ScanError(kind: .syntax, offset: i, message: "processing instruction is never closed with '?>'")
                }
                result.processingInstructions.append(i)
                i = end + 2
            } else if i + 1 < n && b[i + 1] == slash {
                i = try endTag(at: i)
            } else if i + 1 < n && isNameStart(b[i + 1]) {
                i = try startTag(at: i)
            } else {
                i += 1  // a stray '<': libxml2 reports it
                continue
            }
            if !stack.isEmpty { i = try textExpression(at: i) }
        }
        if let open = stack.last {
            var related: [(Int, String)] = []
            if stack.count > 1 {
                related = stack.dropLast().reversed().map { ($0.offset, "<\($0.name)> opened here is not closed either") }
            }
            throw ScanError(
                kind: .tagMismatch, offset: open.offset,
                message: "element <\(open.name)> is never closed (the file ends first)", related: Array(related.prefix(3)))
        }
        output.append(contentsOf: b[copied..<n])
        result.text = output
    }

    /// After markup: a text run that is a whole expression (whitespace around it allowed).
    private mutating func textExpression(at start: Int) throws(ScanError) -> Int {
        var j = start
        while j < b.count && isSpace(b[j]) { j += 1 }
        guard j + 1 < b.count, b[j] == at, b[j + 1] == openParen || b[j + 1] == openBrace else { return start }
        var plainEnd = j
        while plainEnd < b.count && b[plainEnd] != lt { plainEnd += 1 }
        if let end = wholeEscapedExpression(from: j, to: plainEnd, quote: nil) {
            record(start: j, end: end, context: .text, quote: nil)
            return end
        }
        let end = try lex(at: j)
        var k = end
        while k < b.count && isSpace(b[k]) { k += 1 }
        guard k == b.count || b[k] == lt else { return start }  // not the whole text: plain character data
        record(start: j, end: end, context: .text, quote: nil)
        return end
    }

    private mutating func startTag(at start: Int) throws(ScanError) -> Int {
        var j = start + 1
        while j < b.count && !isSpace(b[j]) && b[j] != gt && b[j] != slash && b[j] != lt { j += 1 }
        let name = string(start + 1, j)
        var tag = ScannedDocument.StartTag(name: name, offset: start, attributes: [])
        let tagIndex = result.startTags.count
        result.startTags.append(tag)
        defer { result.startTags[tagIndex] = tag }
        while true {
            while j < b.count && isSpace(b[j]) { j += 1 }
            guard j < b.count else {
                throw ScanError(kind: .syntax, offset: start, message: "start tag <\(name)> is never closed with '>'")
            }
            if b[j] == gt {
                stack.append((name, start))
                return j + 1
            }
            if b[j] == slash && j + 1 < b.count && b[j + 1] == gt { return j + 2 }
            let nameStart = j
            while j < b.count && !isSpace(b[j]) && b[j] != equals && b[j] != gt && b[j] != slash && b[j] != lt
                && b[j] != quote && b[j] != apostrophe
            {
                j += 1
            }
            guard j > nameStart else {
                throw ScanError(
                    kind: .syntax, offset: j,
                    message: "unexpected \(describe(j)) in start tag <\(name)>",
                    related: [(start, "<\(name)> starts here")])
            }
            let attributeName = string(nameStart, j)
            while j < b.count && isSpace(b[j]) { j += 1 }
            guard j < b.count, b[j] == equals else {
                throw ScanError(
                    kind: .syntax, offset: nameStart, message: "attribute '\(attributeName)' of <\(name)> has no value")
            }
            j += 1
            while j < b.count && isSpace(b[j]) { j += 1 }
            guard j < b.count, b[j] == quote || b[j] == apostrophe else {
                throw ScanError(
                    kind: .syntax, offset: j, message: "value of attribute '\(attributeName)' of <\(name)> must be quoted")
            }
            let delimiter = b[j]
            let valueStart = j + 1
            var attribute = ScannedDocument.Attribute(name: attributeName, offset: nameStart, expression: nil)
            var e = valueStart
            while e < b.count && isSpace(b[e]) { e += 1 }
            if e + 1 < b.count, b[e] == at, b[e + 1] == openParen || b[e + 1] == openBrace {
                var plainEnd = e
                while plainEnd < b.count && b[plainEnd] != delimiter { plainEnd += 1 }
                if plainEnd < b.count, let end = wholeEscapedExpression(from: e, to: plainEnd, quote: delimiter) {
                    attribute.expression = result.expressions.count
                    record(start: e, end: end, context: .attribute(attributeName), quote: delimiter)
                    tag.attributes.append(attribute)
                    j = plainEnd + 1
                    continue
                }
                let end: Int
                do {
                    end = try lex(at: e)
                } catch {
                    throw attributeExpressionError(error, start: e, quote: plainEnd, attribute: attributeName)
                }
                var k = end
                while k < b.count && isSpace(b[k]) { k += 1 }
                if k < b.count && b[k] == delimiter {
                    attribute.expression = result.expressions.count
                    record(start: e, end: end, context: .attribute(attributeName), quote: delimiter)
                    tag.attributes.append(attribute)
                    j = k + 1
                    continue
                }
            }
            var k = valueStart
            while k < b.count && b[k] != delimiter { k += 1 }
            guard k < b.count else {
                throw ScanError(
                    kind: .syntax, offset: j, message: "value of attribute '\(attributeName)' of <\(name)> is never closed")
            }
            tag.attributes.append(attribute)
            j = k + 1
        }
    }

    private mutating func endTag(at start: Int) throws(ScanError) -> Int {
        var j = start + 2
        while j < b.count && !isSpace(b[j]) && b[j] != gt && b[j] != lt { j += 1 }
        let name = string(start + 2, j)
        while j < b.count && isSpace(b[j]) { j += 1 }
        guard j < b.count, b[j] == gt else {
            throw ScanError(kind: .syntax, offset: start, message: "end tag </\(name)> is not closed with '>'")
        }
        guard let open = stack.last else {
            throw ScanError(kind: .tagMismatch, offset: start, message: "end tag </\(name)> has no matching start tag")
        }
        if open.name == name {
            stack.removeLast()
            return j + 1
        }
        if let match = stack.lastIndex(where: { $0.name == name }) {
            // The elements above the match were never closed; the innermost one is the culprit.
            let unclosed = stack[(match + 1)...]
            throw ScanError(
                kind: .tagMismatch, offset: unclosed.last!.offset,
                message: "element <\(unclosed.last!.name)> is not closed before </\(name)>",
                related: [(start, "</\(name)> found here"), (stack[match].offset, "<\(name)> opened here")])
        }
        throw ScanError(
            kind: .tagMismatch, offset: start,
            message: "end tag </\(name)> does not match the open element <\(open.name)>",
            related: [(open.offset, "<\(open.name)> opened here")])
    }

    private func lex(at start: Int) throws(ScanError) -> Int {
        do {
            return try ExpressionLexer.expressionEnd(in: b, from: start)
        } catch {
            var related: [(offset: Int, message: String)] = []
            if let offset = error.relatedOffset, let message = error.relatedMessage { related.append((offset, message)) }
            if error.offset != start && error.relatedOffset != start { related.append((start, "the expression starts here")) }
            throw ScanError(kind: .expression, offset: error.offset, message: error.message, related: related)
        }
    }

    /// When the raw lexer fails on an attribute expression but the attribute plainly ends at its first
    /// closing quote (followed by `>` or `/>`), the expression itself is incomplete: say so at its start.
    private func attributeExpressionError(_ error: ScanError, start: Int, quote: Int, attribute: String) -> ScanError {
        guard quote < b.count, error.offset >= quote else { return error }
        var k = quote + 1
        while k < b.count && isSpace(b[k]) { k += 1 }
        guard k < b.count, b[k] == gt || (b[k] == slash && k + 1 < b.count && b[k + 1] == gt) else { return error }
        let decoded = Array(Self.decodeReferences(String(decoding: b[start..<quote], as: UTF8.self)).utf8)
        var reason = "it is not complete"
        do {
            _ = try ExpressionLexer.expressionEnd(in: decoded, from: 0)
        } catch {
            reason = error.message
        }
        return ScanError(
            kind: .expression, offset: start,
            message: "the expression in attribute '\(attribute)' is not complete before the closing quote: \(reason)",
            related: [(quote, "the attribute value ends here")])
    }

    /// The end of an expression written as well-formed XML that fills `b[start..<limit]` (up to
    /// trailing whitespace): its decoded text must be one complete expression. Escaped expressions are
    /// lexed after decoding, because `&#10;` ends a `//` comment and `&quot;` is a quote.
    private func wholeEscapedExpression(from start: Int, to limit: Int, quote: UInt8?) -> Int? {
        var end = limit
        while end > start && isSpace(b[end - 1]) { end -= 1 }
        let slice = b[start..<end]
        guard Self.isWellFormedXML(slice, quote: quote) else { return nil }
        let decoded = Array(Self.decodeReferences(String(decoding: slice, as: UTF8.self)).utf8)
        guard let length = try? ExpressionLexer.expressionEnd(in: decoded, from: 0), length == decoded.count else {
            return nil
        }
        return end
    }

    /// Replaces the expression `b[start..<end]` by a placeholder that keeps its line breaks.
    private mutating func record(start: Int, end: Int, context: PolicyExpression.Context, quote: UInt8?) {
        let slice = b[start..<end]
        let source = String(decoding: slice, as: UTF8.self)
        var wellFormed = Self.isWellFormedXML(slice, quote: quote)
        var value = source
        if wellFormed {
            // Decoded, it must still be one expression (`"a&#10;b"` is fine raw but not decoded):
            // otherwise the references are taken as written, in APIM's raw format.
            let decoded = Self.decodeReferences(source)
            let bytes = Array(decoded.utf8)
            if decoded == source || (try? ExpressionLexer.expressionEnd(in: bytes, from: 0)) == bytes.count {
                value = decoded
            } else {
                wellFormed = false
            }
        }
        if value.utf8.contains(0x0D) { value = Self.foldLineEnds(value) }
        let index = result.expressions.count
        result.expressions.append(
            PolicyExpression(
                source: source, value: value, context: context, position: lines.position(of: start),
                isWellFormedXML: wellFormed))
        output.append(contentsOf: b[copied..<start])
        let placeholderStart = output.count
        output.append(contentsOf: Self.markerOpen)
        output.append(contentsOf: Array(String(index).utf8))
        output.append(contentsOf: Self.markerClose)
        for byte in slice where byte == newlineByte { output.append(newlineByte) }
        result.segments.append(
            ScannedDocument.Segment(
                placeholderStart: placeholderStart, placeholderLength: output.count - placeholderStart,
                originalStart: start, originalLength: end - start))
        copied = end
    }

    /// True when the bytes are valid XML character data (or attribute value with this quote).
    static func isWellFormedXML(_ slice: ArraySlice<UInt8>, quote: UInt8?) -> Bool {
        var i = slice.startIndex
        while i < slice.endIndex {
            let c = slice[i]
            if c == UInt8(ascii: "<") || (quote != nil && c == quote) { return false }
            if c == UInt8(ascii: "]") && quote == nil && i + 2 < slice.endIndex && slice[i + 1] == UInt8(ascii: "]")
                && slice[i + 2] == UInt8(ascii: ">")
            {
                return false
            }
            if c == UInt8(ascii: "&") {
                // References are short: look for the ';' in a bounded window (linear time overall).
                let window = slice[i..<min(slice.endIndex, i + 13)]
                guard let end = window.firstIndex(of: UInt8(ascii: ";")),
                    decodeReference(String(decoding: slice[(i + 1)..<end], as: UTF8.self)) != nil
                else { return false }
                i = end
            }
            i += 1
        }
        return true
    }

    /// The character of a reference body (`amp`, `#10`, `#x41`), if valid.
    static func decodeReference(_ body: String) -> String? {
        switch body {
        case "amp": return "&"
        case "lt": return "<"
        case "gt": return ">"
        case "quot": return "\""
        case "apos": return "'"
        default:
            guard body.hasPrefix("#") else { return nil }
            let digits = body.dropFirst()
            let value: UInt32?
            if digits.hasPrefix("x") { value = UInt32(digits.dropFirst(), radix: 16) } else { value = UInt32(digits, radix: 10) }
            guard let value, let scalar = Unicode.Scalar(value), value != 0 else { return nil }
            return String(Character(scalar))
        }
    }

    /// Decodes `&…;` references (only called on text already checked by `isWellFormedXML`).
    static func decodeReferences(_ text: String) -> String {
        guard text.utf8.contains(UInt8(ascii: "&")) else { return text }
        var result = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            result += rest[..<amp]
            guard let semicolon = rest[amp...].prefix(13).firstIndex(of: ";"),
                let decoded = decodeReference(String(rest[rest.index(after: amp)..<semicolon]))
            else {
                result += "&"
                rest = rest[rest.index(after: amp)...]
                continue
            }
            result += decoded
            rest = rest[rest.index(after: semicolon)...]
        }
        return result + rest
    }

    /// XML end-of-line handling: CRLF and lone CR become LF.
    static func foldLineEnds(_ text: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var previousCR = false
        for byte in text.utf8 {
            if byte == 0x0D {
                bytes.append(0x0A)
                previousCR = true
                continue
            }
            if byte == 0x0A && previousCR {
                previousCR = false
                continue
            }
            previousCR = false
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func hasPrefix(_ prefix: StaticString, at offset: Int) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard offset + count <= b.count else { return false }
        return prefix.withUTF8Buffer { buffer in
            for k in 0..<count where b[offset + k] != buffer[k] { return false }
            return true
        }
    }

    private func string(_ start: Int, _ end: Int) -> String { String(decoding: b[start..<end], as: UTF8.self) }

    private func describe(_ offset: Int) -> String {
        guard offset < b.count else { return "end of file" }
        let c = b[offset]
        return c < 0x80 && c >= 0x20 ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x\(String(c, radix: 16))"
    }

    private func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }
    private func isNameStart(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x3A || c >= 0x80
    }

    private let lt = UInt8(ascii: "<")
    private let gt = UInt8(ascii: ">")
    private let slash = UInt8(ascii: "/")
    private let at = UInt8(ascii: "@")
    private let equals = UInt8(ascii: "=")
    private let quote = UInt8(ascii: "\"")
    private let apostrophe = UInt8(ascii: "'")
    private let openParen = UInt8(ascii: "(")
    private let openBrace = UInt8(ascii: "{")
    private let newlineByte: UInt8 = 0x0A
}
