/// A position in a policy file (1-based line and column).
public struct SourcePosition: Sendable, Hashable, Codable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "\(line):\(column)" }
}

/// A node of a policy document.
public enum XMLNode: Sendable, Hashable {
    case element(XMLElement)
    /// Character data, stored unescaped (the logical value).
    case text(String)
    /// A comment's content, without `<!--` and `-->`.
    case comment(String)
    /// A CDATA section's content, without `<![CDATA[` and `]]>`.
    case cdata(String)
}

/// An attribute, stored unescaped. `position` (where the attribute's name starts in a file that was
/// read) is metadata and never takes part in equality.
public struct XMLAttribute: Sendable, Hashable {
    public var name: String
    public var value: String
    public var position: SourcePosition?

    public init(_ name: String, _ value: String, position: SourcePosition? = nil) {
        self.name = name
        self.value = value
        self.position = position
    }

    public static func == (lhs: XMLAttribute, rhs: XMLAttribute) -> Bool {
        lhs.name == rhs.name && lhs.value == rhs.value
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(value)
    }
}

/// An element of a policy document. Attributes keep their order; `position` is metadata and
/// never takes part in equality.
public struct XMLElement: Sendable, Hashable {
    public var name: String
    public var attributes: [XMLAttribute]
    public var children: [XMLNode]
    public var position: SourcePosition?

    public init(
        _ name: String, attributes: [XMLAttribute] = [], children: [XMLNode] = [], position: SourcePosition? = nil
    ) {
        self.name = name
        self.attributes = attributes
        self.children = children
        self.position = position
    }

    /// An element whose only child is text.
    public init(_ name: String, attributes: [XMLAttribute] = [], text: String) {
        self.init(name, attributes: attributes, children: [.text(text)])
    }

    public static func == (lhs: XMLElement, rhs: XMLElement) -> Bool {
        lhs.name == rhs.name && lhs.attributes == rhs.attributes && lhs.children == rhs.children
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(attributes)
        hasher.combine(children)
    }

    /// The value of the first attribute with this name.
    public subscript(attribute name: String) -> String? {
        attributes.first(where: { $0.name == name })?.value
    }

    /// Child elements, in order.
    public var elements: [XMLElement] {
        children.compactMap { if case .element(let element) = $0 { element } else { nil } }
    }

    /// The concatenated text and CDATA content of this element (not of its descendants).
    public var text: String {
        children.map {
            switch $0 {
            case .text(let text), .cdata(let text): text
            default: ""
            }
        }.joined()
    }
}

extension String {
    /// True when the whole value is an APIM policy expression: `@(…)` or `@{…}` that is one complete,
    /// balanced C# expression (checked with `ExpressionLexer`, so `@(a) + @(b)` is not one).
    public var isPolicyExpression: Bool {
        // Fast path: most values do not start with '@'.
        guard let first = utf8.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }), first == 0x40 else {
            return false
        }
        let trimmed = self.trimmingXMLWhitespace()
        guard (trimmed.hasPrefix("@(") && trimmed.hasSuffix(")")) || (trimmed.hasPrefix("@{") && trimmed.hasSuffix("}")) else {
            return false
        }
        let bytes = Array(trimmed.utf8)
        return (try? ExpressionLexer.expressionEnd(in: bytes, from: 0)) == bytes.count
    }

    /// The string without leading and trailing XML whitespace (space, tab, CR, LF).
    public func trimmingXMLWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
