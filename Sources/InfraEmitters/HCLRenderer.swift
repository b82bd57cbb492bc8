/// Renders HCL the way `terraform fmt` would leave it: two-space indent, `=` aligned across
/// consecutive single-line attributes (a multi-line value, a block, a comment or a blank line ends
/// the group), LF line ends, final newline.
public enum HCLRenderer {
    public static func render(_ file: HCLFile) -> String {
        var lines: [String] = []
        var previous: HCLBodyItem?
        for item in file.items {
            // Top-level blocks are separated by one blank line; comments stick to what follows.
            if let previous, !isBlankOrComment(previous) {
                switch item {
                case .block, .comment: lines.append("")
                default: break
                }
            }
            previous = item
            lines.append(contentsOf: renderItems([item], level: 0))
        }
        while lines.last == "" { lines.removeLast() }
        return lines.joined(separator: "\n") + "\n"
    }

    static func indent(_ level: Int) -> String { String(repeating: "  ", count: level) }

    /// Renders body items at `level`, aligning `=` within runs of single-line attributes.
    static func renderItems(_ items: [HCLBodyItem], level: Int) -> [String] {
        var lines: [String] = []
        var run: [(key: String, value: String)] = []

        func flush() {
            // Keys are ASCII identifiers or quoted strings; terraform fmt counts bytes.
            let width = run.map(\.key.utf8.count).max() ?? 0
            for entry in run {
                lines.append(indent(level) + entry.key + String(repeating: " ", count: width - entry.key.utf8.count) + " = " + entry.value)
            }
            run.removeAll()
        }

        for (index, item) in items.enumerated() {
            switch item {
            case .attribute(let attribute):
                let value = expr(attribute.value, level)
                let key = attributeKey(attribute.name)
                if value.utf8.contains(UInt8(ascii: "\n")) {
                    flush()
                    lines.append(indent(level) + key + " = " + value)
                } else {
                    run.append((key, value))
                }
            case .block(let block):
                flush()
                // A block following attributes or another block gets a blank line before it.
                if index > 0, !isBlankOrComment(items[index - 1]) { lines.append("") }
                lines.append(contentsOf: renderBlock(block, level: level))
            case .blank:
                flush()
                if let last = lines.last, !last.isEmpty { lines.append("") }
            case .comment(let text):
                flush()
                for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                    lines.append(indent(level) + (line.isEmpty ? "#" : "# \(line)"))
                }
            }
        }
        flush()
        return lines
    }

    static func isBlankOrComment(_ item: HCLBodyItem) -> Bool {
        switch item {
        case .blank, .comment: true
        default: false
        }
    }

    static func renderBlock(_ block: HCLBlock, level: Int) -> [String] {
        let header = ([block.type] + block.labels.map { quote($0) }).joined(separator: " ")
        if block.body.isEmpty { return [indent(level) + header + " {}"] }
        var lines = [indent(level) + header + " {"]
        var body = renderItems(block.body, level: level + 1)
        while body.last == "" { body.removeLast() }
        lines.append(contentsOf: body)
        lines.append(indent(level) + "}")
        return lines
    }

    static func attributeKey(_ name: String) -> String { isIdentifier(name) ? name : quote(name) }

    static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic)
        else { return false }
        return name.unicodeScalars.allSatisfy {
            $0 == "_" || $0 == "-" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)))
        }
    }

    static func isScalar(_ e: HCLExpr) -> Bool {
        switch e {
        case .string, .template, .int, .decimal, .bool, .null, .traversal: true
        default: false
        }
    }

    static func expr(_ e: HCLExpr, _ level: Int) -> String {
        switch e {
        case .string(let text): return quote(text)
        case .template(let parts):
            var s = "\""
            for part in parts {
                switch part {
                case .literal(let text): s += escape(text)
                case .interpolation(let inner): s += "${\(expr(inner, level))}"
                }
            }
            return s + "\""
        case .int(let value): return String(value)
        case .decimal(let text): return text
        case .bool(let value): return value ? "true" : "false"
        case .null: return "null"
        case .traversal(let root, let steps):
            var s = root
            for step in steps {
                switch step {
                case .attribute(let name): s += "." + name
                case .index(let index): s += "[\(index)]"
                }
            }
            return s
        case .call(let name, let arguments):
            return "\(name)(\(arguments.map { expr($0, level) }.joined(separator: ", ")))"
        case .object(let attributes):
            if attributes.isEmpty { return "{}" }
            let body = renderItems(attributes.map { .attribute($0) }, level: level + 1)
            return "{\n" + body.joined(separator: "\n") + "\n" + indent(level) + "}"
        case .tuple(let items):
            if items.isEmpty { return "[]" }
            if items.allSatisfy(isScalar) {
                let line = "[" + items.map { expr($0, level) }.joined(separator: ", ") + "]"
                if line.utf8.count <= 100 { return line }
            }
            return "[\n" + items.map { indent(level + 1) + expr($0, level + 1) + ",\n" }.joined() + indent(level) + "]"
        case .forTuple(let key, let value, let source, let body):
            let variables = key.map { "\($0), \(value)" } ?? value
            return "[for \(variables) in \(expr(source, level)) : \(expr(body, level))]"
        case .conditional(let condition, let whenTrue, let whenFalse):
            return "\(operand(condition, level)) ? \(operand(whenTrue, level)) : \(operand(whenFalse, level))"
        case .binary(let lhs, let op, let rhs):
            return "\(operand(lhs, level)) \(op) \(operand(rhs, level))"
        }
    }

    static func operand(_ e: HCLExpr, _ level: Int) -> String {
        switch e {
        case .conditional, .binary: "(\(expr(e, level)))"
        default: expr(e, level)
        }
    }

    static func quote(_ text: String) -> String { "\"" + escape(text) + "\"" }

    /// HCL string escapes, plus `$${` / `%%{` so literal text never becomes a template.
    static func escape(_ text: String) -> String {
        // Fast path: nothing to escape (the common case for names and ids).
        if !text.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "{") || $0 < 0x20 }) {
            return text
        }
        var s = ""
        var previous: Unicode.Scalar?
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": s += "\\\\"
            case "\"": s += "\\\""
            case "\n": s += "\\n"
            case "\r": s += "\\r"
            case "\t": s += "\\t"
            case "{" where previous == "$" || previous == "%":
                s.unicodeScalars.append(previous!)
                s += "{"
            default: s.unicodeScalars.append(scalar)
            }
            previous = scalar
        }
        return s
    }
}
