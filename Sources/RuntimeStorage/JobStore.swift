import Foundation
public import GatewayModel
public import UsageAccounting

/// A batch job as stored. Times are milliseconds since 1970.
public struct JobRecord: Sendable, Hashable, Codable {
    public var id: String
    public var idempotencyKey: String?
    public var product: String
    public var subscription: String
    public var user: String?
    public var deployment: String
    public var model: String
    /// The chat-completions request body, as received.
    public var request: String
    public var priority: Int
    public var notAfter: Int64?
    public var status: JobStatus
    /// Dispatches so far (leases taken, including ones that were throttled or lost).
    public var attempts: Int
    /// Dispatches that ended in 429 (they do not count against ``maxAttempts``).
    public var throttles: Int
    public var maxAttempts: Int
    public var leaseOwner: String?
    public var leaseToken: String?
    public var leaseExpiresAt: Int64?
    public var nextAttemptAt: Int64
    public var createdAt: Int64
    public var updatedAt: Int64
    public var completedAt: Int64?
    /// HTTP status and body of the final backend response.
    public var resultStatus: Int?
    public var result: String?
    public var error: String?
    public var usage: TokenUsage?
    public var cost: Nanos?
    /// The backend's request id (`apim-request-id` / `x-request-id`) of the successful call.
    public var backendRequestId: String?
}

/// A job to enqueue.
public struct NewJob: Sendable, Hashable {
    public var id: String
    public var idempotencyKey: String?
    public var product: String
    public var subscription: String
    public var user: String?
    public var deployment: String
    public var model: String
    public var request: String
    public var priority: Int
    public var notAfter: Int64?
    public var maxAttempts: Int

    /// Creates a job description.
    public init(
        id: String, idempotencyKey: String?, product: String, subscription: String, user: String?, deployment: String,
        model: String, request: String, priority: Int, notAfter: Int64?, maxAttempts: Int
    ) {
        self.id = id
        self.idempotencyKey = idempotencyKey
        self.product = product
        self.subscription = subscription
        self.user = user
        self.deployment = deployment
        self.model = model
        self.request = request
        self.priority = priority
        self.notAfter = notAfter
        self.maxAttempts = maxAttempts
    }
}

/// A relayed call's accounting, kept whether or not it could be billed.
public struct RelayCallRecord: Sendable, Hashable, Codable {
    public var requestId: String
    public var product: String
    public var deployment: String
    public var streaming: Bool
    public var backendStatus: Int
    /// `usage`, `tokenizer` or `unknown`.
    public var accounting: AccountingSource
    /// nil when unknown.
    public var promptTokens: Int?
    public var completionTokens: Int?
    public var eventsForwarded: Int
    public var clientDisconnected: Bool
    public var backendRequestId: String?
    public var createdAt: Int64

    /// Creates a record.
    public init(
        requestId: String, product: String, deployment: String, streaming: Bool, backendStatus: Int,
        accounting: AccountingSource, promptTokens: Int?, completionTokens: Int?, eventsForwarded: Int,
        clientDisconnected: Bool, backendRequestId: String?, createdAt: Int64
    ) {
        self.requestId = requestId
        self.product = product
        self.deployment = deployment
        self.streaming = streaming
        self.backendStatus = backendStatus
        self.accounting = accounting
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.eventsForwarded = eventsForwarded
        self.clientDisconnected = clientDisconnected
        self.backendRequestId = backendRequestId
        self.createdAt = createdAt
    }
}

/// Durable batch jobs and relay call records. Leasing is safe with several replicas on one
/// PostgreSQL (`FOR UPDATE SKIP LOCKED`); on SQLite the single writer path serializes it.
public protocol JobStore: Sendable {
    /// Inserts a job, or returns the existing one with the same `(product, idempotencyKey)`.
    func enqueue(_ job: NewJob, now: Int64) async throws -> (job: JobRecord, created: Bool)
    func job(id: String) async throws -> JobRecord?
    /// Newest first.
    func jobs(status: JobStatus?, deployment: String?, limit: Int) async throws -> [JobRecord]
    /// Cancels a queued job. Returns the job as it is afterwards (nil: no such job).
    func cancelJob(id: String, now: Int64) async throws -> JobRecord?
    /// Leases up to `limit` due jobs of `deployment` for `leaseMillis`: queued jobs whose
    /// `nextAttemptAt` has come, and dispatched jobs whose lease expired. Jobs past `notAfter` become
    /// `expired`; jobs whose lease expired with no attempts left become `failed`.
    func leaseJobs(deployment: String, owner: String, limit: Int, leaseMillis: Int64, now: Int64) async throws -> [JobRecord]
    /// Extends leases still held under these tokens; returns how many were extended.
    func renewLeases(tokens: [String], until: Int64, now: Int64) async throws -> Int
    /// Marks a leased job succeeded; false if the lease was lost (nothing changed).
    func completeJob(
        id: String, leaseToken: String, resultStatus: Int, result: String, usage: TokenUsage?, cost: Nanos?,
        backendRequestId: String?, now: Int64
    ) async throws -> Bool
    /// Puts a leased job back in the queue; false if the lease was lost.
    func requeueJob(id: String, leaseToken: String, nextAttemptAt: Int64, throttled: Bool, error: String?, now: Int64)
        async throws -> Bool
    /// Marks a leased job failed; false if the lease was lost.
    func failJob(id: String, leaseToken: String, resultStatus: Int?, result: String?, error: String, now: Int64)
        async throws -> Bool
    /// Jobs per status (for one deployment, or all).
    func jobCounts(deployment: String?) async throws -> [JobStatus: Int]

    /// Records relayed calls in one transaction (idempotent on each request id).
    func recordRelayCalls(_ calls: [RelayCallRecord]) async throws
    func relayCall(requestId: String) async throws -> RelayCallRecord?
}

extension SQLRuntimeStore {
    /// Schema of the batch-job queue and the relay call log (numbered apart from the core schema).
    static let jobMigrations: [(version: Int64, statements: [String])] = [
        (101, [
            """
            CREATE TABLE IF NOT EXISTS jobs (
                id TEXT PRIMARY KEY, idempotency_key TEXT, product TEXT NOT NULL, subscription TEXT NOT NULL,
                user_id TEXT, deployment TEXT NOT NULL, model TEXT NOT NULL, request TEXT NOT NULL,
                priority BIGINT NOT NULL DEFAULT 0, not_after BIGINT, status TEXT NOT NULL,
                attempts BIGINT NOT NULL DEFAULT 0, throttles BIGINT NOT NULL DEFAULT 0, max_attempts BIGINT NOT NULL,
                lease_owner TEXT, lease_token TEXT, lease_expires_at BIGINT, next_attempt_at BIGINT NOT NULL,
                created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, completed_at BIGINT,
                result_status BIGINT, result TEXT, error TEXT, prompt_tokens BIGINT, completion_tokens BIGINT,
                cached_tokens BIGINT, reasoning_tokens BIGINT, cost BIGINT, backend_request_id TEXT)
            """,
            "CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency ON jobs (product, idempotency_key)",
            "CREATE INDEX IF NOT EXISTS jobs_due ON jobs (deployment, status, next_attempt_at)",
            "CREATE INDEX IF NOT EXISTS jobs_lease ON jobs (deployment, status, lease_expires_at)",
            """
            CREATE TABLE IF NOT EXISTS relay_calls (
                request_id TEXT PRIMARY KEY, product TEXT NOT NULL, deployment TEXT NOT NULL, streaming BIGINT NOT NULL,
                backend_status BIGINT NOT NULL, accounting TEXT NOT NULL, prompt_tokens BIGINT, completion_tokens BIGINT,
                events_forwarded BIGINT NOT NULL, client_disconnected BIGINT NOT NULL, backend_request_id TEXT,
                created_at BIGINT NOT NULL)
            """,
        ])
    ]

    static let jobColumns = """
        id, idempotency_key, product, subscription, user_id, deployment, model, request, priority, not_after, status,
        attempts, throttles, max_attempts, lease_owner, lease_token, lease_expires_at, next_attempt_at, created_at,
        updated_at, completed_at, result_status, result, error, prompt_tokens, completion_tokens, cached_tokens,
        reasoning_tokens, cost, backend_request_id
        """

    static func decodeJob(_ row: SQLRow) throws -> JobRecord {
        guard row.count >= 30, let id = row[0].text, let statusText = row[10].text, let status = JobStatus(rawValue: statusText)
        else { throw StoreError.corruptRow("jobs") }
        var usage: TokenUsage?
        if let prompt = row[24].int, let completion = row[25].int {
            usage = TokenUsage(
                promptTokens: Int(prompt), completionTokens: Int(completion), cachedTokens: Int(row[26].int ?? 0),
                reasoningTokens: Int(row[27].int ?? 0))
        }
        return JobRecord(
            id: id, idempotencyKey: row[1].text, product: row[2].text ?? "", subscription: row[3].text ?? "",
            user: row[4].text, deployment: row[5].text ?? "", model: row[6].text ?? "", request: row[7].text ?? "",
            priority: Int(row[8].int ?? 0), notAfter: row[9].int, status: status, attempts: Int(row[11].int ?? 0),
            throttles: Int(row[12].int ?? 0), maxAttempts: Int(row[13].int ?? 0), leaseOwner: row[14].text,
            leaseToken: row[15].text, leaseExpiresAt: row[16].int, nextAttemptAt: row[17].int ?? 0,
            createdAt: row[18].int ?? 0, updatedAt: row[19].int ?? 0, completedAt: row[20].int,
            resultStatus: row[21].int.map { Int($0) }, result: row[22].text, error: row[23].text, usage: usage,
            cost: row[28].int.map { Nanos($0) }, backendRequestId: row[29].text)
    }
}

extension SQLRuntimeStore: JobStore {
    public func enqueue(_ job: NewJob, now: Int64) async throws -> (job: JobRecord, created: Bool) {
        try await driver.transaction { session in
            let inserted = try await session.query(
                """
                INSERT INTO jobs (id, idempotency_key, product, subscription, user_id, deployment, model, request, priority,
                    not_after, status, attempts, throttles, max_attempts, next_attempt_at, created_at, updated_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', 0, 0, $11, $12, $12, $12)
                ON CONFLICT DO NOTHING RETURNING \(Self.jobColumns)
                """,
                [
                    .text(job.id), SQLValue(job.idempotencyKey), .text(job.product), .text(job.subscription),
                    SQLValue(job.user), .text(job.deployment), .text(job.model), .text(job.request),
                    .int(Int64(job.priority)), job.notAfter.map { .int($0) } ?? .null, .int(Int64(job.maxAttempts)),
                    .int(now),
                ])
            if let row = inserted.first { return (try Self.decodeJob(row), true) }
            let existing: [SQLRow]
            if let key = job.idempotencyKey {
                existing = try await session.query(
                    "SELECT \(Self.jobColumns) FROM jobs WHERE product = $1 AND idempotency_key = $2",
                    [.text(job.product), .text(key)])
            } else {
                existing = try await session.query("SELECT \(Self.jobColumns) FROM jobs WHERE id = $1", [.text(job.id)])
            }
            guard let row = existing.first else { throw StoreError.corruptRow("jobs: conflicting insert not found") }
            return (try Self.decodeJob(row), false)
        }
    }

    public func job(id: String) async throws -> JobRecord? {
        try await driver.read { session in
            try await session.query("SELECT \(Self.jobColumns) FROM jobs WHERE id = $1", [.text(id)]).first.map(Self.decodeJob)
        }
    }

    public func jobs(status: JobStatus?, deployment: String?, limit: Int) async throws -> [JobRecord] {
        var conditions: [String] = []
        var binds: [SQLValue] = []
        if let status {
            binds.append(.text(status.rawValue))
            conditions.append("status = $\(binds.count)")
        }
        if let deployment {
            binds.append(.text(deployment))
            conditions.append("deployment = $\(binds.count)")
        }
        binds.append(.int(Int64(limit)))
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT \(Self.jobColumns) FROM jobs \(filter) ORDER BY created_at DESC, id LIMIT $\(binds.count)"
        let bound = binds
        return try await driver.read { session in try await session.query(sql, bound).map(Self.decodeJob) }
    }

    public func cancelJob(id: String, now: Int64) async throws -> JobRecord? {
        try await driver.transaction { session in
            try await session.query(
                "UPDATE jobs SET status = 'cancelled', completed_at = $2, updated_at = $2 WHERE id = $1 AND status = 'queued'",
                [.text(id), .int(now)])
            return try await session.query("SELECT \(Self.jobColumns) FROM jobs WHERE id = $1", [.text(id)]).first.map(
                Self.decodeJob)
        }
    }

    public func leaseJobs(deployment: String, owner: String, limit: Int, leaseMillis: Int64, now: Int64) async throws
        -> [JobRecord]
    {
        guard limit > 0 else { return [] }
        let locking = driver.dialect == .postgres ? "FOR UPDATE SKIP LOCKED" : ""
        let token = UUID().uuidString
        return try await driver.transaction { session in
            // Past their deadline: expired, whether waiting or held by a lapsed lease.
            try await session.query(
                """
                UPDATE jobs SET status = 'expired', error = 'notAfter passed before the job succeeded', lease_owner = NULL,
                    lease_token = NULL, completed_at = $2, updated_at = $2
                WHERE deployment = $1 AND not_after IS NOT NULL AND not_after < $2
                    AND (status = 'queued' OR (status = 'dispatched' AND lease_expires_at < $2))
                """, [.text(deployment), .int(now)])
            // A lapsed lease with no attempts left: failed.
            try await session.query(
                """
                UPDATE jobs SET status = 'failed', error = 'lease expired on the last attempt', lease_owner = NULL,
                    lease_token = NULL, completed_at = $2, updated_at = $2
                WHERE deployment = $1 AND status = 'dispatched' AND lease_expires_at < $2
                    AND attempts - throttles >= max_attempts
                """, [.text(deployment), .int(now)])
            let rows = try await session.query(
                """
                UPDATE jobs SET status = 'dispatched', lease_owner = $2, lease_token = $3 || ':' || id,
                    lease_expires_at = $4, attempts = attempts + 1, updated_at = $5
                WHERE id IN (
                    SELECT id FROM jobs
                    WHERE deployment = $1 AND ((status = 'queued' AND next_attempt_at <= $5)
                        OR (status = 'dispatched' AND lease_expires_at < $5))
                    ORDER BY priority DESC, next_attempt_at, created_at, id
                    LIMIT $6 \(locking))
                RETURNING \(Self.jobColumns)
                """,
                [.text(deployment), .text(owner), .text(token), .int(now + leaseMillis), .int(now), .int(Int64(limit))])
            return try rows.map(Self.decodeJob).sorted { ($0.priority, -$0.createdAt) > ($1.priority, -$1.createdAt) }
        }
    }

    public func renewLeases(tokens: [String], until: Int64, now: Int64) async throws -> Int {
        guard !tokens.isEmpty else { return 0 }
        return try await driver.transaction { session in
            var renewed = 0
            for token in tokens {
                renewed += try await session.query(
                    """
                    UPDATE jobs SET lease_expires_at = $2, updated_at = $3
                    WHERE lease_token = $1 AND status = 'dispatched' RETURNING id
                    """, [.text(token), .int(until), .int(now)]
                ).count
            }
            return renewed
        }
    }

    public func completeJob(
        id: String, leaseToken: String, resultStatus: Int, result: String, usage: TokenUsage?, cost: Nanos?,
        backendRequestId: String?, now: Int64
    ) async throws -> Bool {
        try await driver.transaction { session in
            try await !session.query(
                """
                UPDATE jobs SET status = 'succeeded', result_status = $3, result = $4, prompt_tokens = $5,
                    completion_tokens = $6, cached_tokens = $7, reasoning_tokens = $8, cost = $9, backend_request_id = $10,
                    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, error = NULL, completed_at = $11,
                    updated_at = $11
                WHERE id = $1 AND lease_token = $2 AND status = 'dispatched' RETURNING id
                """,
                [
                    .text(id), .text(leaseToken), .int(Int64(resultStatus)), .text(result),
                    usage.map { .int(Int64($0.promptTokens)) } ?? .null,
                    usage.map { .int(Int64($0.completionTokens)) } ?? .null,
                    usage.map { .int(Int64($0.cachedTokens)) } ?? .null,
                    usage.map { .int(Int64($0.reasoningTokens)) } ?? .null, cost.map { .int($0.value) } ?? .null,
                    SQLValue(backendRequestId), .int(now),
                ]
            ).isEmpty
        }
    }

    public func requeueJob(id: String, leaseToken: String, nextAttemptAt: Int64, throttled: Bool, error: String?, now: Int64)
        async throws -> Bool
    {
        try await driver.transaction { session in
            try await !session.query(
                """
                UPDATE jobs SET status = 'queued', next_attempt_at = $3, throttles = throttles + $4, error = $5,
                    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = $6
                WHERE id = $1 AND lease_token = $2 AND status = 'dispatched' RETURNING id
                """,
                [.text(id), .text(leaseToken), .int(nextAttemptAt), .int(throttled ? 1 : 0), SQLValue(error), .int(now)]
            ).isEmpty
        }
    }

    public func failJob(id: String, leaseToken: String, resultStatus: Int?, result: String?, error: String, now: Int64)
        async throws -> Bool
    {
        try await driver.transaction { session in
            try await !session.query(
                """
                UPDATE jobs SET status = 'failed', result_status = $3, result = $4, error = $5, lease_owner = NULL,
                    lease_token = NULL, lease_expires_at = NULL, completed_at = $6, updated_at = $6
                WHERE id = $1 AND lease_token = $2 AND status = 'dispatched' RETURNING id
                """,
                [
                    .text(id), .text(leaseToken), resultStatus.map { .int(Int64($0)) } ?? .null, SQLValue(result),
                    .text(error), .int(now),
                ]
            ).isEmpty
        }
    }

    public func jobCounts(deployment: String?) async throws -> [JobStatus: Int] {
        let sql =
            deployment == nil
            ? "SELECT status, COUNT(*) FROM jobs GROUP BY status"
            : "SELECT status, COUNT(*) FROM jobs WHERE deployment = $1 GROUP BY status"
        let binds: [SQLValue] = deployment.map { [.text($0)] } ?? []
        return try await driver.read { session in
            var counts: [JobStatus: Int] = [:]
            for row in try await session.query(sql, binds) {
                if let text = row[0].text, let status = JobStatus(rawValue: text) { counts[status] = Int(row[1].int ?? 0) }
            }
            return counts
        }
    }

    public func recordRelayCalls(_ calls: [RelayCallRecord]) async throws {
        guard !calls.isEmpty else { return }
        var binds: [SQLValue] = []
        var rows: [String] = []
        for call in calls {
            rows.append(Self.placeholders(from: binds.count + 1, count: 12))
            binds += [
                .text(call.requestId), .text(call.product), .text(call.deployment), .int(call.streaming ? 1 : 0),
                .int(Int64(call.backendStatus)), .text(call.accounting.rawValue),
                call.promptTokens.map { .int(Int64($0)) } ?? .null,
                call.completionTokens.map { .int(Int64($0)) } ?? .null, .int(Int64(call.eventsForwarded)),
                .int(call.clientDisconnected ? 1 : 0), SQLValue(call.backendRequestId), .int(call.createdAt),
            ]
        }
        let statement = """
            INSERT INTO relay_calls (request_id, product, deployment, streaming, backend_status, accounting,
                prompt_tokens, completion_tokens, events_forwarded, client_disconnected, backend_request_id, created_at)
            VALUES \(rows.joined(separator: ", ")) ON CONFLICT (request_id) DO NOTHING
            """
        let values = binds
        _ = try await driver.transaction { session in try await session.query(statement, values) }
    }

    public func relayCall(requestId: String) async throws -> RelayCallRecord? {
        try await driver.read { session in
            try await session.query(
                """
                SELECT request_id, product, deployment, streaming, backend_status, accounting, prompt_tokens,
                    completion_tokens, events_forwarded, client_disconnected, backend_request_id, created_at
                FROM relay_calls WHERE request_id = $1
                """, [.text(requestId)]
            ).first.map { row in
                RelayCallRecord(
                    requestId: row[0].text ?? "", product: row[1].text ?? "", deployment: row[2].text ?? "",
                    streaming: row[3].int == 1, backendStatus: Int(row[4].int ?? 0),
                    accounting: AccountingSource(rawValue: row[5].text ?? "") ?? .unknown,
                    promptTokens: row[6].int.map { Int($0) }, completionTokens: row[7].int.map { Int($0) },
                    eventsForwarded: Int(row[8].int ?? 0), clientDisconnected: row[9].int == 1,
                    backendRequestId: row[10].text, createdAt: row[11].int ?? 0)
            }
        }
    }
}
