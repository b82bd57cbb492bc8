/// Where a value was declared in the user's Swift source (`#fileID`, `#line`).
///
/// Locations are metadata: they never take part in equality, so two gateways that describe the same
/// thing compare equal wherever they were written.
public struct SourceLocation: Codable, Sendable, Hashable, CustomStringConvertible {
    public var fileID: String
    public var line: Int

    public init(fileID: String, line: Int) {
        self.fileID = fileID
        self.line = line
    }

    public var description: String { "\(fileID):\(line)" }
}

/// A property wrapper that keeps a declaration's location out of `==` and `hash(into:)`.
@propertyWrapper
public struct Located: Codable, Sendable, Hashable {
    public var wrappedValue: SourceLocation?

    public init(wrappedValue: SourceLocation?) { self.wrappedValue = wrappedValue }

    public static func == (lhs: Located, rhs: Located) -> Bool { true }
    public func hash(into hasher: inout Hasher) {}

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(SourceLocation.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wrappedValue)
    }
}

extension KeyedDecodingContainer {
    /// A missing `location` key decodes as "no location" instead of failing.
    public func decode(_ type: Located.Type, forKey key: Key) throws -> Located {
        try decodeIfPresent(type, forKey: key) ?? Located(wrappedValue: nil)
    }
}

extension KeyedEncodingContainer {
    /// Locations are diagnostics metadata: they are never written to JSON, so generated files do not
    /// change when a declaration moves to another line.
    public mutating func encode(_ value: Located, forKey key: Key) throws {}
}
