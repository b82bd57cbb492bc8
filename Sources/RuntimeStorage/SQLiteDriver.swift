import Foundation
public import Logging
import NIOCore
import NIOPosix
import SQLiteNIO
import Synchronization

/// SQLite in WAL mode with a single writer path.
///
/// Every write transaction goes through one serial queue on one connection. Transactions that queue
/// up while a commit is running are committed together (group commit): each runs inside its own
/// savepoint, so a failing one is rolled back alone, and all are acknowledged only after the shared
/// `COMMIT` (with `synchronous=FULL`) returned. Reads use a second connection, which WAL lets run
/// beside the writer.
public final class SQLiteDriver: SQLDriver {
    public var dialect: SQLDialect { .sqlite }

    private let writer: SerialSQLite
    private let reader: SerialSQLite

    /// Opens (creating if needed) the database file at `path`. `fullSync` (the default) makes every
    /// acknowledged commit survive power loss; without it (`synchronous=NORMAL`) commits survive a
    /// crashed or killed process but the last ones may be lost on power failure.
    public static func open(path: String, fullSync: Bool = true, logger: Logging.Logger) async throws -> SQLiteDriver {
        let writerConnection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let sync = fullSync ? "FULL" : "NORMAL"
        for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=\(sync)", "PRAGMA busy_timeout=10000"] {
            _ = try await writerConnection.query(pragma, [])
        }
        let readerConnection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        _ = try await readerConnection.query("PRAGMA busy_timeout=10000", [])
        return SQLiteDriver(
            writer: SerialSQLite(connection: writerConnection, transactional: true),
            reader: SerialSQLite(connection: readerConnection, transactional: false))
    }

    private init(writer: SerialSQLite, reader: SerialSQLite) {
        self.writer = writer
        self.reader = reader
    }

    public func transaction<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        try await writer.submit(body)
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        try await reader.submit(body)
    }

    public func close() async {
        await writer.close()
        await reader.close()
    }
}

/// Runs jobs on one SQLite connection, one batch at a time.
final class SerialSQLite: Sendable {
    /// A queued job: runs its body and returns how to report the outcome once the batch is done.
    struct Job: Sendable {
        let run: @Sendable (SQLiteSession) async -> @Sendable ((any Error)?) -> Void
    }

    private let connection: SQLiteConnection
    private let transactional: Bool
    private let wakeUp: AsyncStream<Void>.Continuation
    private let loop: Task<Void, Never>

    init(connection: SQLiteConnection, transactional: Bool) {
        self.connection = connection
        self.transactional = transactional
        let (signals, wakeUp) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        self.wakeUp = wakeUp
        let session = SQLiteSession(connection: connection)
        let queue = JobQueue()
        loop = Task {
            for await _ in signals {
                while true {
                    let batch = queue.state.withLock { state in
                        let jobs = state.jobs
                        state.jobs.removeAll(keepingCapacity: true)
                        return jobs
                    }
                    if batch.isEmpty { break }
                    await Self.runBatch(batch, session: session, transactional: transactional)
                }
            }
        }
        _queueStorage = queue
    }

    private let _queueStorage: JobQueue

    /// A driver dropped without `close()` (an application whose services never ran, a test that
    /// stops early) still closes its connection rather than leaking the file handle; sqlite-nio
    /// asserts on an open connection being deinitialized. The close keeps the connection alive
    /// until it has run. A connection `close()` already closed is left alone: sqlite-nio's close
    /// clears its hooks on the (then NULL) handle first and crashes (SIGSEGV on every SIGTERM).
    deinit {
        wakeUp.finish()
        if !_queueStorage.state.withLock({ $0.closed }) { _ = connection.close() }
    }

    /// Jobs waiting for the loop.
    final class JobQueue: Sendable {
        let state = Mutex<(jobs: [Job], closed: Bool)>(([], false))
    }

    private static func runBatch(_ jobs: [Job], session: SQLiteSession, transactional: Bool) async {
        guard transactional else {
            for job in jobs { await job.run(session)(nil) }
            return
        }
        var finishers: [@Sendable ((any Error)?) -> Void] = []
        do {
            try await session.query("BEGIN IMMEDIATE", [])
        } catch {
            for job in jobs { await job.run(session)(error) }
            return
        }
        for job in jobs {
            do { try await session.query("SAVEPOINT job", []) } catch {
                finishers.append(await job.run(session))
                continue
            }
            finishers.append(await job.run(session))
        }
        var commitError: (any Error)?
        do { try await session.query("COMMIT", []) } catch {
            commitError = error
            _ = try? await session.query("ROLLBACK", [])
        }
        for finish in finishers { finish(commitError) }
    }

    func submit<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let transactional = self.transactional
            let job = Job { session in
                do {
                    let value = try await body(session)
                    if transactional { try await session.query("RELEASE job", []) }
                    return { error in
                        if let error { continuation.resume(throwing: error) } else { continuation.resume(returning: value) }
                    }
                } catch {
                    if transactional {
                        _ = try? await session.query("ROLLBACK TO job", [])
                        _ = try? await session.query("RELEASE job", [])
                    }
                    return { _ in continuation.resume(throwing: error) }
                }
            }
            let accepted = self._queueStorage.state.withLock { state in
                if state.closed { return false }
                state.jobs.append(job)
                return true
            }
            if accepted { self.wakeUp.yield() } else { continuation.resume(throwing: SQLiteDriverError.closed) }
        }
    }

    func close() async {
        _queueStorage.state.withLock { $0.closed = true }
        wakeUp.finish()
        await loop.value
        try? await connection.close()
    }
}

/// The driver was closed.
public enum SQLiteDriverError: Error { case closed }

/// Statements on one SQLite connection; `$n` parameters become SQLite's `?n`.
struct SQLiteSession: SQLSession {
    let connection: SQLiteConnection

    @discardableResult
    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
        // `$1` → `?1`: SQLite's numbered parameters. A byte swap, not Foundation's string search,
        // which cost 7% of the relay's CPU.
        let statement = binds.isEmpty ? sql : String(decoding: sql.utf8.map { $0 == UInt8(ascii: "$") ? UInt8(ascii: "?") : $0 }, as: UTF8.self)
        let data: [SQLiteData] = try binds.map {
            switch $0 {
            case .int(let value): .integer(Int(value))
            case .text(let value): .text(value)
            case .null: .null
            case .texts, .ints: throw StoreError.unsupportedBind("arrays are PostgreSQL-only parameters")
            }
        }
        let rows = try await connection.query(statement, data)
        return rows.map { row in
            row.columns.map { column in
                switch column.data {
                case .integer(let value): .int(Int64(value))
                case .text(let value): .text(value)
                case .float(let value): .int(Int64(value))
                case .null, .blob: .null
                }
            }
        }
    }
}
