/// A policy file that cannot be read, located at `file:line:column` of the original text.
public struct PolicyParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of problem this is.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// The bytes are not UTF-8 (or the file is UTF-16).
        case encoding
        /// A `@(…)`/`@{…}` expression is not balanced or has an unterminated string, character or comment.
        case expression
        /// A DOCTYPE or an entity reference: not allowed in policy files.
        case doctype
        /// Tags do not match or are not closed.
        case tagMismatch
        /// Any other XML syntax error (reported by libxml2).
        case syntax
        /// Well-formed XML that is not a policy document (wrong root, processing instructions…).
        case structure
    }

    public var kind: Kind
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String
    /// Further locations or explanations, each already formatted.
    public var notes: [String]

    public init(kind: Kind, file: String, line: Int, column: Int, message: String, notes: [String] = []) {
        self.kind = kind
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.notes = notes
    }

    /// The position of the problem.
    public var position: SourcePosition { SourcePosition(line: line, column: column) }

    /// `file:line:column: error: message`, followed by one indented line per note.
    public var description: String {
        var text = "\(file):\(line):\(column): error: \(message)"
        for note in notes { text += "\n    note: \(note)" }
        return text
    }
}
