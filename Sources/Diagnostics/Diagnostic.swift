/// One finding about a gateway definition or a policy file.
public struct Diagnostic: Sendable, Hashable, Codable {
    public enum Severity: String, Sendable, Hashable, Codable, Comparable {
        case note, warning, error

        private var rank: Int {
            switch self {
            case .note: 0
            case .warning: 1
            case .error: 2
            }
        }

        public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
    }

    /// Where the finding points: a Swift source line, a policy file position, or a model path.
    public struct Location: Sendable, Hashable, Codable, CustomStringConvertible {
        /// A file path or `#fileID` (nil when only a model path is known).
        public var file: String?
        public var line: Int?
        public var column: Int?
        /// Path in the model or document, e.g. `products[team-a]/inbound/rate-limit-by-key`.
        public var path: String?

        public init(file: String? = nil, line: Int? = nil, column: Int? = nil, path: String? = nil) {
            self.file = file
            self.line = line
            self.column = column
            self.path = path
        }

        /// `file:line:column`, `file:line`, or the model path.
        public var description: String {
            guard let file else { return path ?? "<gateway>" }
            var text = file
            if let line { text += ":\(line)" }
            if let line = line, line > 0, let column { text += ":\(column)" }
            return text
        }
    }

    /// Stable identifier such as `TG1001`; see `DiagnosticID`.
    public var id: String
    public var severity: Severity
    public var message: String
    public var location: Location
    /// Extra lines of explanation or a suggested fix.
    public var notes: [String]

    public init(id: String, severity: Severity, message: String, location: Location, notes: [String] = []) {
        self.id = id
        self.severity = severity
        self.message = message
        self.location = location
        self.notes = notes
    }

    /// `path:line: error: TG1001 message`, followed by indented notes.
    public var rendered: String {
        var text = "\(location): \(severity.rawValue): \(id) \(message)"
        if location.file != nil, let path = location.path { text += " [\(path)]" }
        for note in notes { text += "\n    note: \(note)" }
        return text
    }
}

/// Collects diagnostics in the order they are found.
public struct DiagnosticBag: Sendable {
    public private(set) var all: [Diagnostic] = []

    public init() {}

    public mutating func append(_ diagnostic: Diagnostic) { all.append(diagnostic) }
    public mutating func append(contentsOf diagnostics: [Diagnostic]) { all.append(contentsOf: diagnostics) }

    public var hasErrors: Bool { all.contains { $0.severity == .error } }
    public var errors: [Diagnostic] { all.filter { $0.severity == .error } }
}
