/// Writes policy documents deterministically: attributes in tree order, 4-space indentation,
/// LF line endings and a final newline.
public struct XMLWriter: Sendable {
    /// How expressions and special characters are written.
    public enum Format: String, Sendable, CaseIterable, Codable {
        /// APIM's raw format (what APIM exports, Bicep `format: 'rawxml'`): policy expressions are
        /// written unescaped, everything else is escaped.
        case raw
        /// Well-formed XML (Bicep `format: 'xml'`): every value escaped.
        case escaped
    }

    public var format: Format
    public var indent: String
    /// Text to write for an expression instead of its escaped value, keyed by the expression's value.
    /// Empty by default; `PolicyFormatter` fills it so `tollgate fmt` keeps every expression exactly
    /// as it was written in the file.
    public var expressionSources: [String: String] = [:]

    public init(format: Format = .raw, indent: String = "    ") {
        self.format = format
        self.indent = indent
    }

    /// The document as text, ending with a newline.
    public func write(_ root: XMLElement) -> String {
        var output = ""
        write(root, depth: 0, into: &output)
        return output
    }

    private func write(_ element: XMLElement, depth: Int, into output: inout String) {
        let prefix = String(repeating: indent, count: depth)
        output += prefix
        output += openTag(element)
        let significant = element.children.filter { node in
            if case .text(let text) = node { return !text.trimmingXMLWhitespace().isEmpty }
            return true
        }
        if significant.isEmpty {
            output += " />\n"
            return
        }
        let hasElements = significant.contains { if case .element = $0 { true } else { false } }
        let hasText = significant.contains { if case .text = $0 { true } else { false } }
        if !hasElements && !hasText && significant.count == 1, case .cdata(let data) = significant[0] {
            output += ">" + cdata(data) + "</\(element.name)>\n"
            return
        }
        if hasText {
            // Text content (or mixed content): written inline, byte for byte, never re-indented.
            output += ">"
            for node in element.children { writeInline(node, into: &output) }
            output += "</\(element.name)>\n"
            return
        }
        output += ">\n"
        for node in significant {
            switch node {
            case .element(let child): write(child, depth: depth + 1, into: &output)
            case .comment(let comment): output += prefix + indent + "<!--\(comment)-->\n"
            case .cdata(let data): output += prefix + indent + cdata(data) + "\n"
            case .text: break
            }
        }
        output += prefix + "</\(element.name)>\n"
    }

    private func writeInline(_ node: XMLNode, into output: inout String) {
        switch node {
        case .text(let text): output += escapeText(text)
        case .comment(let comment): output += "<!--\(comment)-->"
        case .cdata(let data): output += cdata(data)
        case .element(let element):
            output += openTag(element)
            if element.children.isEmpty {
                output += " />"
            } else {
                output += ">"
                for child in element.children { writeInline(child, into: &output) }
                output += "</\(element.name)>"
            }
        }
    }

    private func openTag(_ element: XMLElement) -> String {
        var tag = "<" + element.name
        for attribute in element.attributes {
            if format == .escaped, !expressionSources.isEmpty, let source = expressionSources[attribute.value],
                source.contains("\"")
            {
                // A well-formed source with double quotes inside was written between single quotes.
                tag += " \(attribute.name)='\(source)'"
                continue
            }
            tag += " \(attribute.name)=\"\(escapeAttribute(attribute.value))\""
        }
        return tag
    }

    private func cdata(_ data: String) -> String { "<![CDATA[\(data)]]>" }

    /// Escapes element text; raw format keeps a whole-text expression verbatim.
    public func escapeText(_ text: String) -> String {
        if !expressionSources.isEmpty, let source = expressionSources[text.trimmingXMLWhitespace()] {
            let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
            return String(text.prefix(while: isSpace)) + source + String(text.reversed().prefix(while: isSpace).reversed())
        }
        if format == .raw && text.isPolicyExpression { return text }
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Escapes an attribute value; raw format keeps a whole-value expression verbatim.
    public func escapeAttribute(_ value: String) -> String {
        if !expressionSources.isEmpty, let source = expressionSources[value] { return source }
        if format == .raw && value.isPolicyExpression { return value }
        var result = ""
        result.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "\n": result += "&#10;"
            case "\r": result += "&#13;"
            case "\t": result += "&#9;"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
