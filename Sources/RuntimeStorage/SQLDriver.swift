/// A value bound to or read from a SQL statement. Tollgate only stores integers and text; arrays
/// are parameters of PostgreSQL functions only (`text[]`, `bigint[]`).
public enum SQLValue: Sendable, Hashable {
    case int(Int64)
    case text(String)
    case null
    case texts([String])
    case ints([Int64])

    /// The integer, or nil.
    public var int: Int64? { if case .int(let value) = self { value } else { nil } }
    /// The text, or nil.
    public var text: String? { if case .text(let value) = self { value } else { nil } }
}

extension SQLValue {
    init(_ value: String?) { self = value.map { .text($0) } ?? .null }
}

/// One row of a result, by column position.
public typealias SQLRow = [SQLValue]

/// Statements run inside one transaction (or one read).
public protocol SQLSession: Sendable {
    /// Runs one statement with positional parameters written `$1`, `$2`, … and returns its rows.
    @discardableResult
    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow]
}

/// The SQL dialects Tollgate supports.
public enum SQLDialect: String, Sendable {
    case sqlite
    case postgres
}

/// A database connection (pool) that runs transactions. The storage logic is written once over this
/// protocol; SQLite and PostgreSQL differ only in their driver.
public protocol SQLDriver: Sendable {
    /// The dialect, for the few statements that differ.
    var dialect: SQLDialect { get }
    /// Runs `body` in one transaction: committed if it returns, rolled back if it throws. When this
    /// returns, the transaction is durable.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T
    /// Runs read-only statements (no transaction guarantee across statements).
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T
    /// Closes the connections.
    func close() async
}
