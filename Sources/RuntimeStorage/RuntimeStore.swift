public import Foundation
public import GatewayModel
public import UsageAccounting

/// One settled call as the storage keeps it.
public struct UsageRecord: Sendable, Hashable, Codable {
    public var requestId: String
    public var product: String
    public var subscription: String
    public var user: String?
    public var api: String?
    public var model: String
    public var deployment: String?
    public var streaming: Bool
    public var usage: TokenUsage
    public var cost: Nanos
    /// Seconds since 1970.
    public var createdAt: Int64

    /// Creates a record.
    public init(
        requestId: String, product: String, subscription: String, user: String?, api: String?, model: String,
        deployment: String?, streaming: Bool, usage: TokenUsage, cost: Nanos, createdAt: Int64
    ) {
        self.requestId = requestId
        self.product = product
        self.subscription = subscription
        self.user = user
        self.api = api
        self.model = model
        self.deployment = deployment
        self.streaming = streaming
        self.usage = usage
        self.cost = cost
        self.createdAt = createdAt
    }
}

/// The outcome of a budget reservation.
public struct ReservationResult: Sendable, Hashable {
    /// Whether the call may proceed.
    public var allowed: Bool
    /// The same request id had already reserved; nothing was reserved again.
    public var duplicate: Bool
    /// Remaining amount of the tightest budget after this reservation (nil: no budget applies).
    public var remaining: Nanos?
    /// When the tightest budget resets (nil for total budgets or none).
    public var resetAt: Date?
}

/// The outcome of settling a usage record.
public struct SettlementResult: Sendable, Hashable {
    /// The request id was already billed; nothing changed.
    public var duplicate: Bool
    /// The billed cost (for a duplicate: what the first report billed).
    public var cost: Nanos
    /// Budget alert thresholds crossed for the first time in their period by this record.
    public var alerts: [ThresholdAlert]
}

/// A usage record waiting to be settled, with the budget counters it counts against.
public struct PendingSettlement: Sendable {
    public var record: UsageRecord
    public var counters: [BudgetCounter]

    public init(record: UsageRecord, counters: [BudgetCounter]) {
        self.record = record
        self.counters = counters
    }
}

/// A budget threshold crossed for the first time in a period.
public struct ThresholdAlert: Sendable, Hashable, Codable {
    public var counterKey: String
    public var periodStart: Int64
    public var threshold: Int
    public var spent: Nanos
    public var limit: Nanos
}

/// Spend and reservations held by one budget counter.
public struct CounterState: Sendable, Hashable {
    public var spent: Nanos
    public var reserved: Nanos
}

/// Dimensions a chargeback report can group by.
public enum ChargebackDimension: String, Sendable, CaseIterable, Codable {
    case product, subscription, user, model, api, deployment, day
}

/// One row of a chargeback report.
public struct ChargebackRow: Sendable, Hashable {
    /// Values of the grouped dimensions (nil for a missing user, api or deployment).
    public var groups: [ChargebackDimension: String?]
    public var requests: Int64
    public var promptTokens: Int64
    public var completionTokens: Int64
    public var cachedTokens: Int64
    public var reasoningTokens: Int64
    public var cost: Nanos
}

/// A chargeback report: grouped rows and the ungrouped total.
public struct ChargebackReport: Sendable, Hashable {
    public var rows: [ChargebackRow]
    public var total: ChargebackRow
}

/// Everything the runtime keeps. `SQLRuntimeStore` implements it over SQLite and PostgreSQL; the
/// conformance suite in `RuntimeStorageTests` runs against both.
public protocol RuntimeStore: Sendable {
    /// Applies pending schema migrations (idempotent; safe with several replicas starting at once).
    func migrate() async throws
    /// Checks that the database answers.
    func ping() async throws
    /// Closes connections.
    func close() async

    /// Inserts products that do not exist yet (configuration seeding); existing ones are left alone.
    func seed(products: [ProductDefinition]) async throws
    /// Creates a product; false if the id exists.
    func createProduct(_ product: ProductDefinition) async throws -> Bool
    /// Replaces a product; false if it does not exist.
    func updateProduct(_ product: ProductDefinition) async throws -> Bool
    func product(id: String) async throws -> ProductDefinition?
    func products() async throws -> [ProductDefinition]
    /// Sets or clears the blocked flag; false if the product does not exist.
    func setBlocked(product: String, blocked: Bool) async throws -> Bool

    /// Atomically reserves `amount` on every hard counter, or on none when one would exceed its limit.
    func reserve(requestId: String, counters: [BudgetCounter], amount: Nanos, expiresAt: Int64) async throws
        -> ReservationResult
    /// Records a call once (idempotent on the request id), releases its reservation and adds its cost
    /// to every counter.
    func settle(_ record: UsageRecord, counters: [BudgetCounter]) async throws -> SettlementResult
    /// Settles several records in one transaction, with the results `settle(_:counters:)` would give
    /// called for each in order (a request id repeated in the batch is a duplicate of its first).
    func settle(batch: [PendingSettlement]) async throws -> [SettlementResult]
    /// Releases reservations that expired before `now` (seconds since 1970); returns how many.
    func expireReservations(now: Int64) async throws -> Int
    func counter(key: String, periodStart: Int64) async throws -> CounterState?
    func usageRecord(requestId: String) async throws -> UsageRecord?

    /// Stores a received alert (idempotent on `id`); false if it was already stored.
    func recordAlert(id: String, product: String?, kind: String, payload: String, at: Int64) async throws -> Bool
    func alertCount() async throws -> Int

    /// Totals of usage with `from <= createdAt < to`, grouped by `groupBy`.
    func chargeback(from: Int64, to: Int64, groupBy: [ChargebackDimension]) async throws -> ChargebackReport
}
