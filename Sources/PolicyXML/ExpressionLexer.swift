/// A problem found while lexing a C# policy expression, located by byte offsets in the scanned text.
public struct ExpressionLexError: Error, Sendable, Hashable {
    /// Byte offset of the problem.
    public var offset: Int
    /// What is wrong.
    public var message: String
    /// A related location (usually the opening bracket or quote), if any.
    public var relatedOffset: Int?
    /// What the related location is.
    public var relatedMessage: String?

    public init(offset: Int, message: String, relatedOffset: Int? = nil, relatedMessage: String? = nil) {
        self.offset = offset
        self.message = message
        self.relatedOffset = relatedOffset
        self.relatedMessage = relatedMessage
    }
}

/// A small C# lexer that finds where an APIM policy expression (`@(…)` or `@{…}`) ends.
///
/// It understands regular strings, verbatim strings (`@"…"` with `""`), interpolated strings
/// (`$"…{…}…"`, `$@"…"`, `@$"…"`, nested to any depth), character literals, `//` and `/* */`
/// comments, and `{{named-value}}` tokens, and it balances `()`, `{}` and `[]`. It never recurses,
/// so deeply nested input cannot overflow the stack.
public enum ExpressionLexer {
    private enum Frame {
        /// Code that ends at `closer`; `hole` is true for an interpolation hole `{…}` of a string.
        case code(closer: UInt8, open: Int, hole: Bool)
        /// The literal part of an interpolated string.
        case interpolated(verbatim: Bool, open: Int)
    }

    /// The byte length of the expression that starts at `start` (which must point at `@(` or `@{`).
    public static func expressionLength(in bytes: [UInt8], from start: Int) throws(ExpressionLexError) -> Int {
        try expressionEnd(in: bytes, from: start) - start
    }

    /// Convenience for tests and tools: the expression at the start of `text`.
    public static func expression(atStartOf text: String) throws(ExpressionLexError) -> String {
        let bytes = Array(text.utf8)
        let end = try expressionEnd(in: bytes, from: 0)
        return String(decoding: bytes[0..<end], as: UTF8.self)
    }

    /// The offset just after the expression that starts at `start`.
    static func expressionEnd(in b: [UInt8], from start: Int) throws(ExpressionLexError) -> Int {
        let n = b.count
        guard start + 1 < n, b[start] == UInt8(ascii: "@"), b[start + 1] == UInt8(ascii: "(") || b[start + 1] == UInt8(ascii: "{")
        else {
            throw ExpressionLexError(offset: start, message: "expected '@(' or '@{'")
        }
        let opener = b[start + 1]
        var stack: [Frame] = [.code(closer: closer(of: opener), open: start + 1, hole: false)]
        var i = start + 2
        while let top = stack.last {
            guard i < n else {
                throw unterminated(stack: stack, expressionStart: start, opener: opener)
            }
            let c = b[i]
            switch top {
            case .interpolated(let verbatim, _):
                if c == quote {
                    if verbatim && i + 1 < n && b[i + 1] == quote { i += 2; continue }
                    stack.removeLast(); i += 1; continue
                }
                if !verbatim && c == backslash { i += 2; continue }
                if !verbatim && (c == newline || c == carriageReturn) {
                    throw ExpressionLexError(
                        offset: i, message: "newline in interpolated string", relatedOffset: openOffset(top),
                        relatedMessage: "string starts here")
                }
                if c == openBrace {
                    if i + 1 < n && b[i + 1] == openBrace { i += 2; continue }
                    stack.append(.code(closer: closeBrace, open: i, hole: true)); i += 1; continue
                }
                i += 1
            case .code(let expected, let open, let hole):
                switch c {
                case quote:
                    i = try skipRegularString(b, from: i)
                case at:
                    if i + 1 < n && b[i + 1] == quote {
                        i = try skipVerbatimString(b, from: i + 1)
                    } else if i + 2 < n && b[i + 1] == dollar && b[i + 2] == quote {
                        stack.append(.interpolated(verbatim: true, open: i)); i += 3
                    } else {
                        i += 1
                    }
                case dollar:
                    if i + 1 < n && b[i + 1] == quote {
                        stack.append(.interpolated(verbatim: false, open: i)); i += 2
                    } else if i + 2 < n && b[i + 1] == at && b[i + 2] == quote {
                        stack.append(.interpolated(verbatim: true, open: i)); i += 3
                    } else {
                        i += 1
                    }
                case apostrophe:
                    i = try skipCharLiteral(b, from: i)
                case slash where i + 1 < n && b[i + 1] == slash:
                    while i < n && b[i] != newline && b[i] != carriageReturn { i += 1 }
                case slash where i + 1 < n && b[i + 1] == star:
                    guard let end = find([star, slash], in: b, from: i + 2) else {
                        throw ExpressionLexError(offset: i, message: "unterminated comment '/*'")
                    }
                    i = end + 2
                case openBrace where i + 1 < n && b[i + 1] == openBrace:
                    if let end = namedValueEnd(b, from: i) {
                        i = end
                    } else {
                        stack.append(.code(closer: closeBrace, open: i, hole: false)); i += 1
                    }
                case openParen, openBrace, openBracket:
                    stack.append(.code(closer: closer(of: c), open: i, hole: false)); i += 1
                case closeParen, closeBrace, closeBracket:
                    guard c == expected else {
                        throw ExpressionLexError(
                            offset: i,
                            message: "unexpected '\(Character(Unicode.Scalar(c)))'; expected '\(Character(Unicode.Scalar(expected)))'",
                            relatedOffset: open,
                            relatedMessage: "'\(Character(Unicode.Scalar(b[open])))' opened here")
                    }
                    stack.removeLast(); i += 1
                case colon where hole:
                    // Format specifier of an interpolation hole: literal text up to the closing brace.
                    while i < n && b[i] != closeBrace && b[i] != quote { i += 1 }
                    if i < n && b[i] == closeBrace { stack.removeLast(); i += 1 }
                default:
                    i += 1
                }
            }
        }
        return i
    }

    private static func unterminated(stack: [Frame], expressionStart: Int, opener: UInt8) -> ExpressionLexError {
        let innermost = stack.last.map(openOffset) ?? expressionStart
        let what: String
        switch stack.last {
        case .interpolated: what = "interpolated string starts here"
        case .code(_, let open, true) where open != expressionStart + 1: what = "interpolation hole '{' opened here"
        default: what = "innermost unclosed bracket opened here"
        }
        return ExpressionLexError(
            offset: expressionStart,
            message: "unbalanced expression: '@\(Character(Unicode.Scalar(opener)))' is never closed",
            relatedOffset: innermost == expressionStart + 1 ? nil : innermost,
            relatedMessage: innermost == expressionStart + 1 ? nil : what)
    }

    private static func openOffset(_ frame: Frame) -> Int {
        switch frame {
        case .code(_, let open, _): open
        case .interpolated(_, let open): open
        }
    }

    private static func closer(of opener: UInt8) -> UInt8 {
        switch opener {
        case openParen: closeParen
        case openBracket: closeBracket
        default: closeBrace
        }
    }

    /// `"…"` with backslash escapes; must end on the same line.
    private static func skipRegularString(_ b: [UInt8], from start: Int) throws(ExpressionLexError) -> Int {
        var i = start + 1
        while i < b.count {
            switch b[i] {
            case quote: return i + 1
            case backslash: i += 2
            case newline, carriageReturn: throw ExpressionLexError(offset: start, message: "unterminated string literal")
            default: i += 1
            }
        }
        throw ExpressionLexError(offset: start, message: "unterminated string literal")
    }

    /// `@"…"` where `""` is an escaped quote; `quoteIndex` points at the opening quote.
    private static func skipVerbatimString(_ b: [UInt8], from quoteIndex: Int) throws(ExpressionLexError) -> Int {
        var i = quoteIndex + 1
        while i < b.count {
            if b[i] == quote {
                if i + 1 < b.count && b[i + 1] == quote { i += 2; continue }
                return i + 1
            }
            i += 1
        }
        throw ExpressionLexError(offset: quoteIndex - 1, message: "unterminated verbatim string literal")
    }

    /// `'x'`, `'\''`, `'\u0041'`; must end on the same line.
    private static func skipCharLiteral(_ b: [UInt8], from start: Int) throws(ExpressionLexError) -> Int {
        var i = start + 1
        while i < b.count {
            switch b[i] {
            case apostrophe: return i + 1
            case backslash: i += 2
            case newline, carriageReturn: throw ExpressionLexError(offset: start, message: "unterminated character literal")
            default: i += 1
            }
        }
        throw ExpressionLexError(offset: start, message: "unterminated character literal")
    }

    /// The end of a `{{name}}` token starting at `start`, if there is one.
    static func namedValueEnd(_ b: [UInt8], from start: Int) -> Int? {
        var i = start + 2
        let nameStart = i
        while i < b.count, isNamedValueCharacter(b[i]) { i += 1 }
        guard i > nameStart, i + 1 < b.count, b[i] == closeBrace, b[i + 1] == closeBrace else { return nil }
        return i + 2
    }

    private static func isNamedValueCharacter(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x2E || c == 0x5F
    }

    static func find(_ needle: [UInt8], in b: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, b.count >= needle.count else { return nil }
        var i = start
        let last = b.count - needle.count
        while i <= last {
            if b[i] == needle[0] {
                var j = 1
                while j < needle.count && b[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }

    private static let quote = UInt8(ascii: "\"")
    private static let apostrophe = UInt8(ascii: "'")
    private static let backslash = UInt8(ascii: "\\")
    private static let newline = UInt8(ascii: "\n")
    private static let carriageReturn = UInt8(ascii: "\r")
    private static let at = UInt8(ascii: "@")
    private static let dollar = UInt8(ascii: "$")
    private static let slash = UInt8(ascii: "/")
    private static let star = UInt8(ascii: "*")
    private static let colon = UInt8(ascii: ":")
    private static let openParen = UInt8(ascii: "(")
    private static let closeParen = UInt8(ascii: ")")
    private static let openBrace = UInt8(ascii: "{")
    private static let closeBrace = UInt8(ascii: "}")
    private static let openBracket = UInt8(ascii: "[")
    private static let closeBracket = UInt8(ascii: "]")
}
