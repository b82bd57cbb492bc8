import Foundation
import GatewayModel
public import Logging
public import UsageAccounting

/// Storage failures the caller can act on.
public enum StoreError: Error, CustomStringConvertible {
    case corruptRow(String)
    case unsupportedURL(String)
    /// Another process (or another store in this one) owns the SQLite file.
    case databaseInUse(path: String, lockPath: String)
    case lockFailed(path: String, reason: String)
    case unsupportedBind(String)

    public var description: String {
        switch self {
        case .corruptRow(let what): "unexpected database row: \(what)"
        case .unsupportedURL(let url): "unsupported database URL \"\(url)\" (expected a file path, sqlite:PATH or postgres://…)"
        case .databaseInUse(let path, let lockPath):
            "the SQLite database \(path) is already used by another Tollgate runtime (lock \(lockPath) is held); "
                + "SQLite keeps budget reservations in the memory of one process, so only one runtime may open the file — "
                + "stop the other one, or use PostgreSQL (TOLLGATE_DATABASE_URL=postgres://…) to run several replicas"
        case .lockFailed(let path, let reason): "cannot lock \(path): \(reason)"
        case .unsupportedBind(let what): "unsupported statement parameter: \(what)"
        }
    }
}

/// The storage logic, written once over `SQLDriver`.
///
/// Budget reservations are conditional `UPDATE … SET reserved = reserved + $amount WHERE spent +
/// reserved + $amount <= $limit RETURNING …` statements inside one transaction: the database decides,
/// never a value read into Swift and written back, so several replicas sharing PostgreSQL cannot
/// overspend. Usage records are `INSERT … ON CONFLICT (request_id) DO NOTHING`, so a retried report
/// bills nothing.
///
/// On PostgreSQL a reservation is one call of the `tollgate_reserve` function (migration 2): one
/// round trip, the conditional upserts run inside the database in key order. On SQLite opened
/// `exclusive` (what the runtime does) reservations are decided by an in-memory `BudgetLedger`
/// instead, guarded by an exclusive `flock` on `<path>-tollgate.lock`; usage and spend stay durable
/// in SQLite.
public final class SQLRuntimeStore: RuntimeStore {
    /// The driver statements run on.
    public let driver: any SQLDriver
    /// The in-memory reservation ledger (SQLite opened exclusively), nil otherwise.
    public let ledger: BudgetLedger?
    private let lock: FileLock?

    /// Wraps a driver; reservations are made in the database.
    public init(driver: any SQLDriver) {
        self.driver = driver
        ledger = nil
        lock = nil
    }

    private init(driver: any SQLDriver, ledger: BudgetLedger, lock: FileLock) {
        self.driver = driver
        self.ledger = ledger
        self.lock = lock
    }

    /// The lock file guarding a SQLite database file.
    public static func lockPath(forDatabase path: String) -> String { path + "-tollgate.lock" }

    /// Opens the store a `TOLLGATE_DATABASE_URL` names: a file path, `sqlite:PATH`, `sqlite://PATH`,
    /// or `postgres://…` / `postgresql://…`. A SQLite path may end in `?synchronous=normal` to trade
    /// power-loss durability of the last commits for throughput (default: `full`).
    ///
    /// SQLite opened `exclusive` (the default; what the runtime uses) takes an exclusive lock on
    /// `<path>-tollgate.lock` and keeps reservations in memory; a second exclusive open of the same
    /// file fails with `StoreError.databaseInUse`. `exclusive: false` takes no lock and reserves in
    /// the database — for tools and tests that read a file a runtime owns, never for a second runtime.
    public static func open(url: String, logger: Logging.Logger, exclusive: Bool = true) async throws -> SQLRuntimeStore {
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            return SQLRuntimeStore(driver: try PostgresDriver(url: url, logger: logger))
        }
        var path = url
        if path.hasPrefix("sqlite://") { path = String(path.dropFirst("sqlite://".count)) }
        else if path.hasPrefix("sqlite:") { path = String(path.dropFirst("sqlite:".count)) }
        var fullSync = true
        if let question = path.firstIndex(of: "?") {
            let option = path[path.index(after: question)...]
            guard option == "synchronous=normal" || option == "synchronous=full" else { throw StoreError.unsupportedURL(url) }
            fullSync = option == "synchronous=full"
            path = String(path[..<question])
        }
        guard !path.isEmpty, !path.contains("://") else { throw StoreError.unsupportedURL(url) }
        guard exclusive else {
            return SQLRuntimeStore(driver: try await SQLiteDriver.open(path: path, fullSync: fullSync, logger: logger))
        }
        let lockPath = Self.lockPath(forDatabase: path)
        let lock: FileLock
        do { lock = try FileLock(path: lockPath) } catch is FileLock.Held {
            throw StoreError.databaseInUse(path: path, lockPath: lockPath)
        }
        do {
            let driver = try await SQLiteDriver.open(path: path, fullSync: fullSync, logger: logger)
            return SQLRuntimeStore(driver: driver, ledger: BudgetLedger(), lock: lock)
        } catch {
            lock.unlock()
            throw error
        }
    }

    // MARK: Migrations

    /// Versioned schema. A version is applied once, in a transaction, and recorded.
    static let migrations: [(version: Int64, statements: [String])] = [
        (1, [
            """
            CREATE TABLE IF NOT EXISTS products (
                id TEXT PRIMARY KEY, definition TEXT NOT NULL, blocked BIGINT NOT NULL DEFAULT 0,
                updated_at BIGINT NOT NULL)
            """,
            """
            CREATE TABLE IF NOT EXISTS budget_counters (
                counter_key TEXT NOT NULL, period_start BIGINT NOT NULL, spent BIGINT NOT NULL DEFAULT 0,
                reserved BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (counter_key, period_start))
            """,
            """
            CREATE TABLE IF NOT EXISTS reservations (
                request_id TEXT PRIMARY KEY, amount BIGINT NOT NULL, counters TEXT NOT NULL,
                expires_at BIGINT NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS reservations_expires_at ON reservations (expires_at)",
            """
            CREATE TABLE IF NOT EXISTS usage_records (
                request_id TEXT PRIMARY KEY, product TEXT NOT NULL, subscription TEXT NOT NULL, user_id TEXT,
                api TEXT, model TEXT NOT NULL, deployment TEXT, streaming BIGINT NOT NULL,
                prompt_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL, cached_tokens BIGINT NOT NULL,
                reasoning_tokens BIGINT NOT NULL, cost BIGINT NOT NULL, created_at BIGINT NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS usage_records_created_at ON usage_records (created_at)",
            """
            CREATE TABLE IF NOT EXISTS fired_thresholds (
                counter_key TEXT NOT NULL, period_start BIGINT NOT NULL, threshold BIGINT NOT NULL,
                fired_at BIGINT NOT NULL, PRIMARY KEY (counter_key, period_start, threshold))
            """,
            """
            CREATE TABLE IF NOT EXISTS alert_events (
                id TEXT PRIMARY KEY, product TEXT, kind TEXT NOT NULL, payload TEXT NOT NULL, received_at BIGINT NOT NULL)
            """,
        ]),
        // 2: the reservation function (PostgreSQL only; see `postgresStatements`).
        (2, []),
    ] + jobMigrations  // batch jobs and relay calls (JobStore.swift)

    /// Statements of a migration that run on PostgreSQL only, after its common statements. SQLite
    /// records the version with the common statements alone.
    static let postgresStatements: [Int64: [String]] = [2: [reserveFunction]]

    /// One reservation in one round trip: claims the request id, then reserves `p_amount` on every
    /// counter (given sorted by key, so concurrent calls lock rows in one order) with a conditional
    /// upsert each; when one would exceed its limit the ones already reserved are taken back (their
    /// rows are still locked by this transaction) and the claim is deleted, so it is all or nothing.
    /// With `p_reserve` false (no hard budget) it only claims the id and reports the tightest counter.
    /// Its transaction commits with `synchronous_commit = off` (reservations only; see the body).
    /// Returns `allowed`, `duplicate`, `remaining` (nil: no counter) and the 1-based index of the
    /// counter `remaining` refers to.
    static let reserveFunction = """
        CREATE OR REPLACE FUNCTION tollgate_reserve(
            p_request_id text, p_keys text[], p_starts bigint[], p_limits bigint[], p_amount bigint,
            p_expires_at bigint, p_reserve boolean)
        RETURNS TABLE (allowed boolean, duplicate boolean, remaining bigint, counter_index integer)
        LANGUAGE plpgsql AS $tollgate$
        DECLARE
            n integer := coalesce(array_length(p_keys, 1), 0);
            encoded text := '';
            left_over bigint;
            used bigint;
            best bigint;
            best_index integer;
            claimed boolean;
        BEGIN
            -- Reservations are in-flight state that expires anyway: this transaction's commit does
            -- not wait for the WAL flush, so the hot budget row is unlocked sooner. A database crash
            -- can forget the reservations of its last fraction of a second (like a SQLite runtime
            -- restart forgets its in-memory ones); usage and spend are committed synchronously.
            PERFORM set_config('synchronous_commit', 'off', true);
            IF p_reserve THEN
                FOR i IN 1..n LOOP
                    encoded := encoded || CASE WHEN i > 1 THEN E'\\n' ELSE '' END || p_starts[i] || E'\\t' || p_keys[i];
                END LOOP;
            END IF;
            INSERT INTO reservations (request_id, amount, counters, expires_at)
            VALUES (p_request_id, p_amount, encoded, p_expires_at)
            ON CONFLICT (request_id) DO NOTHING;
            claimed := FOUND;
            IF claimed AND p_reserve THEN
                FOR i IN 1..n LOOP
                    left_over := NULL;
                    INSERT INTO budget_counters AS c (counter_key, period_start, spent, reserved)
                    SELECT p_keys[i], p_starts[i], 0, p_amount WHERE p_amount <= p_limits[i]
                    ON CONFLICT (counter_key, period_start) DO UPDATE SET reserved = c.reserved + excluded.reserved
                    WHERE c.spent + c.reserved + excluded.reserved <= p_limits[i]
                    RETURNING p_limits[i] - c.spent - c.reserved INTO left_over;
                    IF left_over IS NULL THEN
                        FOR j IN 1..i - 1 LOOP
                            UPDATE budget_counters SET reserved = reserved - p_amount
                            WHERE counter_key = p_keys[j] AND period_start = p_starts[j];
                        END LOOP;
                        DELETE FROM reservations WHERE request_id = p_request_id;
                        SELECT c.spent + c.reserved INTO used FROM budget_counters c
                        WHERE c.counter_key = p_keys[i] AND c.period_start = p_starts[i];
                        RETURN QUERY SELECT false, false, greatest(0, p_limits[i] - coalesce(used, 0)), i;
                        RETURN;
                    END IF;
                    IF best IS NULL OR left_over < best THEN
                        best := left_over;
                        best_index := i;
                    END IF;
                END LOOP;
                RETURN QUERY SELECT true, false, best, best_index;
                RETURN;
            END IF;
            -- A repeated request id, or no hard budget: report the tightest counter.
            FOR i IN 1..n LOOP
                SELECT c.spent + c.reserved INTO used FROM budget_counters c
                WHERE c.counter_key = p_keys[i] AND c.period_start = p_starts[i];
                left_over := greatest(0, p_limits[i] - coalesce(used, 0));
                IF best IS NULL OR left_over < best THEN
                    best := left_over;
                    best_index := i;
                END IF;
            END LOOP;
            RETURN QUERY SELECT true, NOT claimed, best, best_index;
        END
        $tollgate$
        """

    public func migrate() async throws {
        let dialect = driver.dialect
        let usesLedger = ledger != nil
        try await driver.transaction { session in
            if dialect == .postgres {
                // Replicas starting together apply migrations one after the other.
                try await session.query("SELECT pg_advisory_xact_lock(7242024)", [])
            }
            try await session.query(
                "CREATE TABLE IF NOT EXISTS tollgate_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)", [])
            let applied = Set(try await session.query("SELECT version FROM tollgate_migrations", []).compactMap { $0.first?.int })
            for migration in Self.migrations where !applied.contains(migration.version) {
                let extra = dialect == .postgres ? Self.postgresStatements[migration.version] ?? [] : []
                for statement in migration.statements + extra { try await session.query(statement, []) }
                try await session.query(
                    "INSERT INTO tollgate_migrations (version, applied_at) VALUES ($1, $2)",
                    [.int(migration.version), .int(Self.now())])
            }
            if usesLedger {
                // Reservations live in the ledger; any left in the file by an older version (or by a
                // non-exclusive open) belong to calls that are no longer in flight.
                try await session.query("DELETE FROM reservations", [])
                try await session.query("UPDATE budget_counters SET reserved = 0 WHERE reserved <> 0", [])
            }
        }
    }

    /// The applied schema versions.
    public func appliedMigrations() async throws -> [Int64] {
        try await driver.read { session in
            try await session.query("SELECT version FROM tollgate_migrations ORDER BY version", []).compactMap { $0.first?.int }
        }
    }

    public func ping() async throws {
        _ = try await driver.read { session in try await session.query("SELECT 1", []) }
    }

    public func close() async {
        await driver.close()
        lock?.unlock()
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    // MARK: Products

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    private static func encode(_ product: ProductDefinition) throws -> String {
        String(decoding: try encoder.encode(product), as: UTF8.self)
    }

    private static func decodeProduct(_ row: SQLRow) throws -> ProductDefinition {
        guard row.count >= 2, let text = row[0].text else { throw StoreError.corruptRow("products") }
        var product = try JSONDecoder().decode(ProductDefinition.self, from: Data(text.utf8))
        product.blocked = (row[1].int ?? 0) != 0
        return product
    }

    public func seed(products: [ProductDefinition]) async throws {
        let rows = try products.map { ($0.id, try Self.encode($0)) }
        try await driver.transaction { session in
            for (id, definition) in rows {
                try await session.query(
                    "INSERT INTO products (id, definition, blocked, updated_at) VALUES ($1, $2, 0, $3) ON CONFLICT (id) DO NOTHING",
                    [.text(id), .text(definition), .int(Self.now())])
            }
        }
    }

    public func createProduct(_ product: ProductDefinition) async throws -> Bool {
        let definition = try Self.encode(product)
        return try await driver.transaction { session in
            try await !session.query(
                """
                INSERT INTO products (id, definition, blocked, updated_at) VALUES ($1, $2, $3, $4)
                ON CONFLICT (id) DO NOTHING RETURNING id
                """, [.text(product.id), .text(definition), .int(product.blocked ? 1 : 0), .int(Self.now())]
            ).isEmpty
        }
    }

    public func updateProduct(_ product: ProductDefinition) async throws -> Bool {
        let definition = try Self.encode(product)
        return try await driver.transaction { session in
            try await !session.query(
                "UPDATE products SET definition = $2, blocked = $3, updated_at = $4 WHERE id = $1 RETURNING id",
                [.text(product.id), .text(definition), .int(product.blocked ? 1 : 0), .int(Self.now())]
            ).isEmpty
        }
    }

    public func product(id: String) async throws -> ProductDefinition? {
        try await driver.read { session in
            try await session.query("SELECT definition, blocked FROM products WHERE id = $1", [.text(id)])
                .first.map(Self.decodeProduct)
        }
    }

    public func products() async throws -> [ProductDefinition] {
        try await driver.read { session in
            try await session.query("SELECT definition, blocked FROM products ORDER BY id", []).map(Self.decodeProduct)
        }
    }

    public func setBlocked(product: String, blocked: Bool) async throws -> Bool {
        try await driver.transaction { session in
            try await !session.query(
                "UPDATE products SET blocked = $2, updated_at = $3 WHERE id = $1 RETURNING id",
                [.text(product), .int(blocked ? 1 : 0), .int(Self.now())]
            ).isEmpty
        }
    }

    // MARK: Budgets

    /// Thrown inside a reservation transaction to roll it back.
    private struct Denied: Error {
        var remaining: Nanos
        var counter: BudgetCounter
    }

    private struct AlreadyReserved: Error {}

    private static func encodeCounters(_ counters: [BudgetCounter]) -> String {
        counters.map { "\($0.periodStart)\t\($0.key)" }.joined(separator: "\n")
    }

    private static func decodeCounters(_ text: String) -> [(key: String, periodStart: Int64)] {
        text.split(separator: "\n").compactMap { line in
            guard let tab = line.firstIndex(of: "\t"), let start = Int64(line[..<tab]) else { return nil }
            return (String(line[line.index(after: tab)...]), start)
        }
    }

    public func reserve(requestId: String, counters: [BudgetCounter], amount: Nanos, expiresAt: Int64) async throws
        -> ReservationResult
    {
        let hard = counters.filter(\.hard).sorted { $0.key < $1.key }
        let tracked = hard.isEmpty ? counters : hard
        if let ledger { return try await reserveInLedger(ledger, requestId: requestId, hard: hard, tracked: tracked, amount: amount, expiresAt: expiresAt) }
        if driver.dialect == .postgres {
            return try await reserveInFunction(requestId: requestId, hard: hard, tracked: tracked, amount: amount, expiresAt: expiresAt)
        }
        do {
            return try await driver.transaction { session in
                // Claim the request id first: a second check with the same id reserves nothing.
                let claimed = try await session.query(
                    """
                    INSERT INTO reservations (request_id, amount, counters, expires_at) VALUES ($1, $2, $3, $4)
                    ON CONFLICT (request_id) DO NOTHING RETURNING request_id
                    """, [.text(requestId), .int(amount.value), .text(Self.encodeCounters(hard)), .int(expiresAt)])
                if claimed.isEmpty { throw AlreadyReserved() }
                var tightest: (remaining: Nanos, counter: BudgetCounter)?
                for counter in hard {
                    // One statement creates the counter or adds to it, only while the sum stays
                    // within the limit; no row back means the budget would be exceeded.
                    let rows = try await session.query(
                        """
                        INSERT INTO budget_counters (counter_key, period_start, spent, reserved)
                        SELECT $1, $2, 0, $3 WHERE $3 <= $4
                        ON CONFLICT (counter_key, period_start) DO UPDATE SET reserved = budget_counters.reserved + excluded.reserved
                        WHERE budget_counters.spent + budget_counters.reserved + excluded.reserved <= $4
                        RETURNING CAST($4 AS BIGINT) - spent - reserved
                        """, [.text(counter.key), .int(counter.periodStart), .int(amount.value), .int(counter.limit.value)])
                    guard let remaining = rows.first?.first?.int else {
                        let state = try await session.query(
                            "SELECT spent, reserved FROM budget_counters WHERE counter_key = $1 AND period_start = $2",
                            [.text(counter.key), .int(counter.periodStart)])
                        let used = (state.first?[0].int ?? 0) + (state.first?[1].int ?? 0)
                        throw Denied(remaining: Nanos(max(0, counter.limit.value - used)), counter: counter)
                    }
                    if tightest == nil || remaining < tightest!.remaining.value { tightest = (Nanos(remaining), counter) }
                }
                if hard.isEmpty, !tracked.isEmpty {
                    tightest = try await Self.tightest(session, tracked)
                }
                return ReservationResult(
                    allowed: true, duplicate: false, remaining: tightest?.remaining, resetAt: tightest?.counter.resetAt)
            }
        } catch let denied as Denied {
            return ReservationResult(
                allowed: false, duplicate: false, remaining: denied.remaining, resetAt: denied.counter.resetAt)
        } catch is AlreadyReserved {
            let tightest = try await driver.read { session in try await Self.tightest(session, tracked) }
            return ReservationResult(allowed: true, duplicate: true, remaining: tightest?.remaining, resetAt: tightest?.counter.resetAt)
        }
    }

    /// SQLite: decided in memory; counters not loaded yet are read from the database first.
    private func reserveInLedger(
        _ ledger: BudgetLedger, requestId: String, hard: [BudgetCounter], tracked: [BudgetCounter], amount: Nanos,
        expiresAt: Int64
    ) async throws -> ReservationResult {
        while true {
            let now = Self.now()
            switch ledger.reserve(
                requestId: requestId, hard: hard, tracked: tracked, amount: amount.value, expiresAt: expiresAt, now: now)
            {
            case .decided(let result): return result
            case .load(let ids, let epoch):
                let loaded = try await driver.read { session in
                    var values: [(id: CounterID, spent: Int64)] = []
                    for id in ids {
                        let rows = try await session.query(
                            "SELECT spent FROM budget_counters WHERE counter_key = $1 AND period_start = $2",
                            [.text(id.key), .int(id.periodStart)])
                        values.append((id, rows.first?.first?.int ?? 0))
                    }
                    return values
                }
                ledger.install(loaded, epoch: epoch, now: now)
            }
        }
    }

    /// PostgreSQL: one call of `tollgate_reserve`, one round trip (a single statement is its own
    /// transaction).
    private func reserveInFunction(
        requestId: String, hard: [BudgetCounter], tracked: [BudgetCounter], amount: Nanos, expiresAt: Int64
    ) async throws -> ReservationResult {
        let rows = try await driver.read { session in
            try await session.query(
                "SELECT allowed, duplicate, remaining, counter_index FROM tollgate_reserve($1, $2, $3, $4, $5, $6, $7 <> 0)",
                [
                    .text(requestId), .texts(tracked.map(\.key)), .ints(tracked.map(\.periodStart)),
                    .ints(tracked.map(\.limit.value)), .int(amount.value), .int(expiresAt), .int(hard.isEmpty ? 0 : 1),
                ])
        }
        guard let row = rows.first, row.count == 4, let allowed = row[0].int, let duplicate = row[1].int else {
            throw StoreError.corruptRow("tollgate_reserve")
        }
        let counter = row[3].int.flatMap { index in tracked.indices.contains(Int(index) - 1) ? tracked[Int(index) - 1] : nil }
        return ReservationResult(
            allowed: allowed != 0, duplicate: duplicate != 0, remaining: row[2].int.map(Nanos.init),
            resetAt: counter?.resetAt)
    }

    private static func tightest(_ session: any SQLSession, _ counters: [BudgetCounter]) async throws
        -> (remaining: Nanos, counter: BudgetCounter)?
    {
        var best: (remaining: Nanos, counter: BudgetCounter)?
        for counter in counters {
            let state = try await session.query(
                "SELECT spent, reserved FROM budget_counters WHERE counter_key = $1 AND period_start = $2",
                [.text(counter.key), .int(counter.periodStart)])
            let used = (state.first?[0].int ?? 0) + (state.first?[1].int ?? 0)
            let remaining = Nanos(max(0, counter.limit.value - used))
            if best == nil || remaining < best!.remaining { best = (remaining, counter) }
        }
        return best
    }

    private static func release(_ session: any SQLSession, amount: Int64, counters: String) async throws {
        for counter in decodeCounters(counters) {
            try await session.query(
                """
                UPDATE budget_counters SET reserved = CASE WHEN reserved >= $3 THEN reserved - $3 ELSE 0 END
                WHERE counter_key = $1 AND period_start = $2
                """, [.text(counter.key), .int(counter.periodStart), .int(amount)])
        }
    }

    public func settle(_ record: UsageRecord, counters: [BudgetCounter]) async throws -> SettlementResult {
        try await settle(batch: [PendingSettlement(record: record, counters: counters)])[0]
    }

    /// `$first, $first+1, …` for `count` parameters, in parentheses.
    static func placeholders(from first: Int, count: Int) -> String {
        "(" + (first..<(first + count)).map { "$\($0)" }.joined(separator: ", ") + ")"
    }

    public func settle(batch: [PendingSettlement]) async throws -> [SettlementResult] {
        guard !batch.isEmpty else { return [] }
        let usesLedger = ledger != nil
        // A request id twice in one batch: the later one is a duplicate of the earlier.
        var firstIndex: [String: Int] = [:]
        for (index, item) in batch.enumerated() where firstIndex[item.record.requestId] == nil {
            firstIndex[item.record.requestId] = index
        }
        let unique = batch.indices.filter { firstIndex[batch[$0].record.requestId] == $0 }
        let firstOf = firstIndex
        let (results, spentByRequest) = try await driver.transaction { session in
            // 1. All records in one statement; RETURNING names the ones that were new.
            var binds: [SQLValue] = []
            var rows: [String] = []
            for index in unique {
                let record = batch[index].record
                rows.append(Self.placeholders(from: binds.count + 1, count: 14))
                binds += [
                    .text(record.requestId), .text(record.product), .text(record.subscription), SQLValue(record.user),
                    SQLValue(record.api), .text(record.model), SQLValue(record.deployment), .int(record.streaming ? 1 : 0),
                    .int(Int64(record.usage.promptTokens)), .int(Int64(record.usage.completionTokens)),
                    .int(Int64(record.usage.cachedTokens)), .int(Int64(record.usage.reasoningTokens)),
                    .int(record.cost.value), .int(record.createdAt),
                ]
            }
            let inserted = Set(
                try await session.query(
                    """
                    INSERT INTO usage_records (request_id, product, subscription, user_id, api, model, deployment, streaming,
                        prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost, created_at)
                    VALUES \(rows.joined(separator: ", "))
                    ON CONFLICT (request_id) DO NOTHING RETURNING request_id
                    """, binds
                ).compactMap { $0.first?.text })
            // 2. Duplicates answer with what the first report billed.
            var results = [SettlementResult?](repeating: nil, count: batch.count)
            var billedBefore: [String: Nanos] = [:]
            for index in unique where !inserted.contains(batch[index].record.requestId) {
                let id = batch[index].record.requestId
                let previous = try await session.query("SELECT cost FROM usage_records WHERE request_id = $1", [.text(id)])
                billedBefore[id] = Nanos(previous.first?.first?.int ?? 0)
            }
            let fresh = unique.filter { inserted.contains(batch[$0].record.requestId) }
            // 3. Reservations held in the database (PostgreSQL) are released.
            if !usesLedger, !fresh.isEmpty {
                let ids = fresh.map { SQLValue.text(batch[$0].record.requestId) }
                for reservation in try await session.query(
                    "DELETE FROM reservations WHERE request_id IN \(Self.placeholders(from: 1, count: ids.count)) RETURNING amount, counters",
                    ids)
                {
                    guard let amount = reservation[0].int, let list = reservation[1].text else { continue }
                    try await Self.release(session, amount: amount, counters: list)
                }
            }
            // 4. One upsert per counter with the batch's sum; then each record's before/after is
            //    replayed in order, so thresholds fire exactly as record-by-record settlement would.
            var sums: [CounterID: Int64] = [:]
            for index in fresh {
                for counter in batch[index].counters {
                    let id = CounterID(counter)
                    sums[id, default: 0] += batch[index].record.cost.value
                }
            }
            var running: [CounterID: Int64] = [:]
            var finalSpent: [CounterID: Int64] = [:]
            for id in sums.keys.sorted(by: { ($0.key, $0.periodStart) < ($1.key, $1.periodStart) }) {
                let rows = try await session.query(
                    """
                    INSERT INTO budget_counters (counter_key, period_start, spent, reserved) VALUES ($1, $2, $3, 0)
                    ON CONFLICT (counter_key, period_start) DO UPDATE SET spent = budget_counters.spent + excluded.spent
                    RETURNING spent
                    """, [.text(id.key), .int(id.periodStart), .int(sums[id]!)])
                guard let after = rows.first?.first?.int else { throw StoreError.corruptRow("budget_counters") }
                finalSpent[id] = after
                running[id] = after - sums[id]!
            }
            var spentByRequest: [String: [(id: CounterID, spent: Int64)]] = [:]
            for index in fresh {
                let record = batch[index].record
                var alerts: [ThresholdAlert] = []
                for counter in batch[index].counters.sorted(by: { $0.key < $1.key }) {
                    let id = CounterID(counter)
                    let before = running[id]!
                    let after = before + record.cost.value
                    running[id] = after
                    for threshold in crossedThresholds(
                        counter.alertThresholds, limit: counter.limit, before: Nanos(before), after: Nanos(after))
                    {
                        let fired = try await session.query(
                            """
                            INSERT INTO fired_thresholds (counter_key, period_start, threshold, fired_at) VALUES ($1, $2, $3, $4)
                            ON CONFLICT (counter_key, period_start, threshold) DO NOTHING RETURNING threshold
                            """, [.text(counter.key), .int(counter.periodStart), .int(Int64(threshold)), .int(Self.now())])
                        if !fired.isEmpty {
                            alerts.append(
                                ThresholdAlert(
                                    counterKey: counter.key, periodStart: counter.periodStart, threshold: threshold,
                                    spent: Nanos(after), limit: counter.limit))
                        }
                    }
                }
                results[index] = SettlementResult(duplicate: false, cost: record.cost, alerts: alerts)
                spentByRequest[record.requestId] = batch[index].counters.map { (CounterID($0), finalSpent[CounterID($0)]!) }
            }
            for index in batch.indices where results[index] == nil {
                let id = batch[index].record.requestId
                let cost = billedBefore[id] ?? batch[firstOf[id]!].record.cost
                results[index] = SettlementResult(duplicate: true, cost: cost, alerts: [])
            }
            return (results.map { $0! }, spentByRequest)
        }
        // Committed: now the ledger may count it (spent up, reservation released, in one step).
        if let ledger {
            for (index, item) in batch.enumerated() {
                if results[index].duplicate {
                    // Already billed: a reservation still held for it only blocks budget.
                    ledger.release(requestId: item.record.requestId)
                } else if let spent = spentByRequest[item.record.requestId] {
                    ledger.settled(requestId: item.record.requestId, spent: spent)
                }
            }
        }
        return results
    }

    public func expireReservations(now: Int64) async throws -> Int {
        if let ledger { return ledger.expire(now: now) }
        return try await driver.transaction { session in
            let expired = try await session.query(
                "DELETE FROM reservations WHERE expires_at < $1 RETURNING amount, counters", [.int(now)])
            for reservation in expired {
                guard let amount = reservation[0].int, let list = reservation[1].text else { continue }
                try await Self.release(session, amount: amount, counters: list)
            }
            return expired.count
        }
    }

    public func counter(key: String, periodStart: Int64) async throws -> CounterState? {
        if let ledger, let state = ledger.counter(CounterID(key: key, periodStart: periodStart)) { return state }
        let usesLedger = ledger != nil
        return try await driver.read { session in
            try await session.query(
                "SELECT spent, reserved FROM budget_counters WHERE counter_key = $1 AND period_start = $2",
                [.text(key), .int(periodStart)]
            ).first.map {
                // With a ledger nothing is reserved in the file; an unloaded counter holds no reservation.
                CounterState(spent: Nanos($0[0].int ?? 0), reserved: usesLedger ? .zero : Nanos($0[1].int ?? 0))
            }
        }
    }

    public func usageRecord(requestId: String) async throws -> UsageRecord? {
        try await driver.read { session in
            try await session.query(
                """
                SELECT request_id, product, subscription, user_id, api, model, deployment, streaming, prompt_tokens,
                    completion_tokens, cached_tokens, reasoning_tokens, cost, created_at
                FROM usage_records WHERE request_id = $1
                """, [.text(requestId)]
            ).first.map { row in
                UsageRecord(
                    requestId: row[0].text ?? "", product: row[1].text ?? "", subscription: row[2].text ?? "",
                    user: row[3].text, api: row[4].text, model: row[5].text ?? "", deployment: row[6].text,
                    streaming: row[7].int == 1,
                    usage: TokenUsage(
                        promptTokens: Int(row[8].int ?? 0), completionTokens: Int(row[9].int ?? 0),
                        cachedTokens: Int(row[10].int ?? 0), reasoningTokens: Int(row[11].int ?? 0)),
                    cost: Nanos(row[12].int ?? 0), createdAt: row[13].int ?? 0)
            }
        }
    }

    // MARK: Alerts

    public func recordAlert(id: String, product: String?, kind: String, payload: String, at: Int64) async throws -> Bool {
        try await driver.transaction { session in
            try await !session.query(
                """
                INSERT INTO alert_events (id, product, kind, payload, received_at) VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (id) DO NOTHING RETURNING id
                """, [.text(id), SQLValue(product), .text(kind), .text(payload), .int(at)]
            ).isEmpty
        }
    }

    public func alertCount() async throws -> Int {
        try await driver.read { session in
            Int(try await session.query("SELECT COUNT(*) FROM alert_events", []).first?.first?.int ?? 0)
        }
    }

    // MARK: Reports

    private static func column(_ dimension: ChargebackDimension) -> String {
        switch dimension {
        case .product: "product"
        case .subscription: "subscription"
        case .user: "user_id"
        case .model: "model"
        case .api: "api"
        case .deployment: "deployment"
        case .day: "(created_at / 86400)"
        }
    }

    public func chargeback(from: Int64, to: Int64, groupBy: [ChargebackDimension]) async throws -> ChargebackReport {
        var dimensions: [ChargebackDimension] = []
        for dimension in groupBy where !dimensions.contains(dimension) { dimensions.append(dimension) }
        let columns = dimensions.map(Self.column)
        let sums = """
            COUNT(*), CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT),
            CAST(COALESCE(SUM(cached_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(reasoning_tokens), 0) AS BIGINT),
            CAST(COALESCE(SUM(cost), 0) AS BIGINT)
            """
        let filter = "FROM usage_records WHERE created_at >= $1 AND created_at < $2"
        let grouped =
            columns.isEmpty
            ? nil
            : "SELECT \(columns.joined(separator: ", ")), \(sums) \(filter) GROUP BY \(columns.joined(separator: ", ")) ORDER BY \(columns.joined(separator: ", "))"
        let totalSQL = "SELECT \(sums) \(filter)"
        let chosen = dimensions
        return try await driver.read { session in
            func row(_ values: SQLRow, offset: Int) -> ChargebackRow {
                var groups: [ChargebackDimension: String?] = [:]
                for (index, dimension) in chosen.enumerated() where offset > 0 {
                    switch (dimension, values[index]) {
                    case (.day, .int(let day)):
                        let date = Date(timeIntervalSince1970: TimeInterval(day * 86400))
                        groups[dimension] = .some(String(ISO8601DateFormatter().string(from: date).prefix(10)))
                    case (_, .text(let text)): groups[dimension] = .some(text)
                    case (_, .int(let int)): groups[dimension] = .some(String(int))
                    case (_, .null), (_, .texts), (_, .ints): groups[dimension] = .some(nil)
                    }
                }
                return ChargebackRow(
                    groups: groups, requests: values[offset].int ?? 0, promptTokens: values[offset + 1].int ?? 0,
                    completionTokens: values[offset + 2].int ?? 0, cachedTokens: values[offset + 3].int ?? 0,
                    reasoningTokens: values[offset + 4].int ?? 0, cost: Nanos(values[offset + 5].int ?? 0))
            }
            let binds: [SQLValue] = [.int(from), .int(to)]
            guard let grouped else {
                let totalRow = try await session.query(totalSQL, binds).first ?? Array(repeating: .int(0), count: 6)
                let total = row(totalRow, offset: 0)
                return ChargebackReport(rows: [total], total: total)
            }
            let rows = try await session.query(grouped, binds).map { row($0, offset: chosen.count) }
            // The total is the sum of the rows, so the two always agree exactly.
            var sum = ChargebackRow(
                groups: [:], requests: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0,
                cost: .zero)
            for row in rows {
                sum.requests += row.requests
                sum.promptTokens += row.promptTokens
                sum.completionTokens += row.completionTokens
                sum.cachedTokens += row.cachedTokens
                sum.reasoningTokens += row.reasoningTokens
                sum.cost = sum.cost + row.cost
            }
            return ChargebackReport(rows: rows, total: sum)
        }
    }
}
