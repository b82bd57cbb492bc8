/// Renders a `BicepFile` deterministically: two-space indent, LF line ends, one blank line between
/// declarations, multi-line objects and arrays, final newline.
public enum BicepRenderer {
    public static func render(_ file: BicepFile) -> String {
        var out = ""
        var previousWasComment = false
        for (index, statement) in file.statements.enumerated() {
            if index > 0 { out += previousWasComment ? "\n" : "\n\n" }
            out += render(statement)
            if case .comment = statement { previousWasComment = true } else { previousWasComment = false }
        }
        return out + "\n"
    }

    static func render(_ statement: BicepStatement) -> String {
        switch statement {
        case .comment(let text):
            return text.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.isEmpty ? "//" : "// \($0)" }.joined(separator: "\n")
        case .targetScope(let scope):
            return "targetScope = \(quote(scope))"
        case .metadata(let name, let value):
            return "metadata \(name) = \(expr(value, 0))"
        case .param(let name, let type, let defaultValue, let decorators):
            var line = decorate(decorators) + "param \(name) \(type.rawValue)"
            if let defaultValue { line += " = \(expr(defaultValue, 0))" }
            return line
        case .variable(let name, let value, let decorators):
            return decorate(decorators) + "var \(name) = \(expr(value, 0))"
        case .resource(let resource):
            var line = decorate(resource.decorators)
                + "resource \(resource.symbol) \(quote("\(resource.type)@\(resource.apiVersion)"))"
            if resource.existing { line += " existing" }
            line += " = "
            if let condition = resource.condition { line += "if (\(expr(condition, 0))) " }
            return line + expr(resource.body, 0)
        case .module(let symbol, let path, let condition, let body, let decorators):
            var line = decorate(decorators) + "module \(symbol) \(quote(path)) = "
            if let condition { line += "if (\(expr(condition, 0))) " }
            return line + expr(body, 0)
        case .output(let name, let type, let value, let decorators):
            return decorate(decorators) + "output \(name) \(type.rawValue) = \(expr(value, 0))"
        }
    }

    static func decorate(_ decorators: [BicepDecorator]) -> String {
        decorators.map { decorator in
            "@\(decorator.name)(\(decorator.arguments.map { expr($0, 0) }.joined(separator: ", ")))\n"
        }.joined()
    }

    static func indent(_ level: Int) -> String { String(repeating: "  ", count: level) }

    static func expr(_ e: BicepExpr, _ level: Int) -> String {
        switch e {
        case .string(let text): return quote(text)
        case .interpolated(let parts):
            var s = "'"
            for part in parts {
                switch part {
                case .literal(let text): s += escape(text)
                case .expr(let inner): s += "${\(expr(inner, level))}"
                }
            }
            return s + "'"
        case .int(let value): return String(value)
        case .bool(let value): return value ? "true" : "false"
        case .null: return "null"
        case .identifier(let name): return name
        case .member(let base, let name): return operand(base, level) + "." + name
        case .index(let base, let index): return operand(base, level) + "[\(expr(index, level))]"
        case .call(let name, let arguments):
            return "\(name)(\(arguments.map { expr($0, level) }.joined(separator: ", ")))"
        case .methodCall(let base, let name, let arguments):
            return operand(base, level) + ".\(name)(\(arguments.map { expr($0, level) }.joined(separator: ", ")))"
        case .object(let properties):
            if properties.isEmpty { return "{}" }
            var s = "{\n"
            for property in properties {
                let name = property.interpolatedKey.map { expr(.interpolated($0), level + 1) } ?? key(property.key)
                s += indent(level + 1) + name + ": " + expr(property.value, level + 1) + "\n"
            }
            return s + indent(level) + "}"
        case .array(let items):
            if items.isEmpty { return "[]" }
            var s = "[\n"
            for item in items { s += indent(level + 1) + expr(item, level + 1) + "\n" }
            return s + indent(level) + "]"
        case .forLoop(let item, let index, let source, let body):
            let variables = index.map { "(\(item), \($0))" } ?? item
            return "[for \(variables) in \(expr(source, level)): \(expr(body, level))]"
        case .ternary(let condition, let whenTrue, let whenFalse):
            return "\(operand(condition, level)) ? \(operand(whenTrue, level)) : \(operand(whenFalse, level))"
        case .binary(let lhs, let op, let rhs):
            return "\(operand(lhs, level)) \(op) \(operand(rhs, level))"
        }
    }

    /// Parenthesises compound expressions used as operands.
    static func operand(_ e: BicepExpr, _ level: Int) -> String {
        switch e {
        case .ternary, .binary: return "(\(expr(e, level)))"
        default: return expr(e, level)
        }
    }

    static func key(_ name: String) -> String { isIdentifier(name) ? name : quote(name) }

    static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic)
        else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }

    static func quote(_ text: String) -> String { "'" + escape(text) + "'" }

    /// Bicep string escapes: `\\`, `\'`, `\${`, `\n`, `\r`, `\t`.
    static func escape(_ text: String) -> String {
        // Fast path: nothing to escape (the common case for names and ids).
        if !text.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "'") || $0 == UInt8(ascii: "{") || $0 < 0x20 }) {
            return text
        }
        var s = ""
        var previous: Unicode.Scalar?
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": s += "\\\\"
            case "'": s += "\\'"
            case "\n": s += "\\n"
            case "\r": s += "\\r"
            case "\t": s += "\\t"
            case "{" where previous == "$":
                s.unicodeScalars.removeLast()
                s += "\\${"
            default: s.unicodeScalars.append(scalar)
            }
            previous = scalar
        }
        return s
    }
}
