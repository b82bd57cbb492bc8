import Foundation
public import Logging
import NIOCore
import PostgresNIO

/// PostgreSQL through postgres-nio's connection pool (`PostgresClient`).
public final class PostgresDriver: SQLDriver {
    public var dialect: SQLDialect { .postgres }

    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logging.Logger

    /// Connects to a `postgres://user:password@host:port/database?sslmode=…` URL.
    /// `sslmode=require` (or `verify-full`) uses TLS; otherwise the connection is plain.
    public init(url: String, maximumConnections: Int = 20, logger: Logging.Logger) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme,
              ["postgres", "postgresql"].contains(scheme), let host = components.host, !host.isEmpty
        else { throw PostgresDriverError.invalidURL }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let mode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "disable"
        let tls: PostgresClient.Configuration.TLS
        switch mode {
        case "require", "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
        case "prefer": tls = .prefer(.makeClientConfiguration())
        default: tls = .disable
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: components.user?.removingPercentEncoding ?? "postgres",
            password: components.password?.removingPercentEncoding, database: database.isEmpty ? nil : database, tls: tls)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = .seconds(5)
        var background = logger
        background.logLevel = .error
        let client = PostgresClient(configuration: configuration, backgroundLogger: background)
        self.client = client
        self.logger = logger
        runner = Task { await client.run() }
    }

    public func transaction<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        let logger = self.logger
        return try await client.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                let value = try await body(PostgresSession(connection: connection, logger: logger))
                try await connection.query("COMMIT", logger: logger)
                return value
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        let logger = self.logger
        return try await client.withConnection { connection in
            try await body(PostgresSession(connection: connection, logger: logger))
        }
    }

    public func close() async {
        runner.cancel()
        await runner.value
    }
}

/// A `postgres://` URL that cannot be used.
public enum PostgresDriverError: Error, CustomStringConvertible {
    case invalidURL

    public var description: String { "invalid PostgreSQL URL (expected postgres://user:password@host:port/database)" }
}

struct PostgresSession: SQLSession {
    let connection: PostgresConnection
    let logger: Logging.Logger

    @discardableResult
    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
        var bindings = PostgresBindings(capacity: binds.count)
        for bind in binds {
            switch bind {
            case .int(let value): bindings.append(value)
            case .text(let value): bindings.append(value)
            case .null: bindings.appendNull()
            case .texts(let values): bindings.append(values)
            case .ints(let values): bindings.append(values)
            }
        }
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        var result: [SQLRow] = []
        for try await row in rows {
            var values: SQLRow = []
            values.reserveCapacity(row.count)
            for cell in row {
                if cell.bytes == nil {
                    values.append(.null)
                } else {
                    switch cell.dataType {
                    case .int2, .int4, .int8: values.append(.int(try cell.decode(Int64.self)))
                    case .bool: values.append(.int(try cell.decode(Bool.self) ? 1 : 0))
                    default: values.append(.text(try cell.decode(String.self)))
                    }
                }
            }
            result.append(values)
        }
        return result
    }
}
