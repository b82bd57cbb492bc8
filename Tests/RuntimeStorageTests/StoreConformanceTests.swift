import Foundation
import GatewayModel
import Logging
import Testing
@testable import RuntimeStorage
import UsageAccounting

/// The back ends every conformance test runs against.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres
    var testDescription: String { rawValue }
}

/// Opens a store for a backend: a fresh SQLite file, or the PostgreSQL named by
/// `TOLLGATE_TEST_POSTGRES_URL` (missing: skipped locally, a failure when `CI=true`).
func withStore(_ backend: Backend, _ body: (SQLRuntimeStore) async throws -> Void) async throws {
    let logger = Logger(label: "test")
    switch backend {
    case .sqlite:
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try await SQLRuntimeStore.open(url: "sqlite:" + directory.appendingPathComponent("t.db").path, logger: logger)
        try await store.migrate()
        do { try await body(store) } catch {
            await store.close()
            throw error
        }
        await store.close()
    case .postgres:
        guard let url = ProcessInfo.processInfo.environment["TOLLGATE_TEST_POSTGRES_URL"] else {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                Issue.record("TOLLGATE_TEST_POSTGRES_URL is not set; CI must start PostgreSQL (scripts/start-postgres.sh)")
            }
            return
        }
        let store = try await SQLRuntimeStore.open(url: url, logger: logger)
        try await store.migrate()
        do { try await body(store) } catch {
            await store.close()
            throw error
        }
        await store.close()
    }
}

func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())" }

func counter(_ key: String, limit: Int64, hard: Bool = true, thresholds: [Int] = [50, 80, 100]) -> BudgetCounter {
    BudgetCounter(key: key, periodStart: 0, resetAt: nil, limit: Nanos(limit), hard: hard, alertThresholds: thresholds)
}

func record(_ id: String, product: String = "p", cost: Int64, at: Int64 = 1000, model: String = "gpt-4o", user: String? = nil)
    -> UsageRecord
{
    UsageRecord(
        requestId: id, product: product, subscription: "sub", user: user, api: nil, model: model, deployment: nil,
        streaming: false, usage: TokenUsage(promptTokens: 10, completionTokens: 5, cachedTokens: 2), cost: Nanos(cost),
        createdAt: at)
}

@Suite("Store conformance") struct StoreConformanceTests {
    @Test(arguments: Backend.allCases) func migrationsAreVersionedAndIdempotent(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            try await store.migrate()
            try await store.migrate()
            // 1: the runtime schema; 101: batch jobs and relay calls (issue 7).
            let applied = try await store.appliedMigrations()
            #expect(applied.filter { $0 == 1 }.count == 1)
            #expect(applied.contains(2))  // the reservation function (its statements run on PostgreSQL only)
            #expect(applied.contains(101))
            try await store.ping()
        }
    }

    @Test(arguments: Backend.allCases) func productsCreateUpdateGetList(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let id = unique("team")
            let product = ProductDefinition(
                id: id, displayName: "Team", budgets: [Budget(amount: Money(Decimal(string: "500.00")!), period: .monthly)])
            #expect(try await store.createProduct(product))
            #expect(try await !store.createProduct(product))
            #expect(try await store.product(id: id) == product)
            var changed = product
            changed.displayName = "Team, renamed"
            #expect(try await store.updateProduct(changed))
            #expect(try await store.product(id: id)?.displayName == "Team, renamed")
            #expect(try await !store.updateProduct(ProductDefinition(id: unique("missing"))))
            #expect(try await store.products().contains(changed))
            #expect(try await store.setBlocked(product: id, blocked: true))
            #expect(try await store.product(id: id)?.blocked == true)
            try await store.seed(products: [ProductDefinition(id: id, displayName: "seed must not overwrite")])
            #expect(try await store.product(id: id)?.displayName == "Team, renamed")
        }
    }

    @Test(arguments: Backend.allCases) func reservationsRespectTheLimit(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let key = unique("k")
            let budget = [counter(key, limit: 100)]
            let first = try await store.reserve(requestId: unique("r"), counters: budget, amount: Nanos(60), expiresAt: .max)
            #expect(first.allowed && first.remaining == Nanos(40))
            let second = try await store.reserve(requestId: unique("r"), counters: budget, amount: Nanos(60), expiresAt: .max)
            #expect(!second.allowed && second.remaining == Nanos(40))
            #expect(try await store.counter(key: key, periodStart: 0) == CounterState(spent: .zero, reserved: Nanos(60)))
        }
    }

    @Test(arguments: Backend.allCases) func aDeniedCounterRollsBackTheOthers(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let roomy = unique("a"), tight = unique("b")
            let counters = [counter(roomy, limit: 1000), counter(tight, limit: 10)]
            let result = try await store.reserve(requestId: unique("r"), counters: counters, amount: Nanos(50), expiresAt: .max)
            #expect(!result.allowed)
            #expect(try await store.counter(key: roomy, periodStart: 0)?.reserved ?? .zero == .zero)
        }
    }

    @Test(arguments: Backend.allCases) func sameRequestIdReservesOnce(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let key = unique("k"), id = unique("r")
            _ = try await store.reserve(requestId: id, counters: [counter(key, limit: 100)], amount: Nanos(30), expiresAt: .max)
            let again = try await store.reserve(requestId: id, counters: [counter(key, limit: 100)], amount: Nanos(30), expiresAt: .max)
            #expect(again.allowed && again.duplicate)
            #expect(try await store.counter(key: key, periodStart: 0)?.reserved == Nanos(30))
        }
    }

    @Test(arguments: Backend.allCases) func settlementReleasesTheReservationAndIsIdempotent(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let key = unique("k"), id = unique("r")
            let budget = [counter(key, limit: 100)]
            _ = try await store.reserve(requestId: id, counters: budget, amount: Nanos(30), expiresAt: .max)
            let settled = try await store.settle(record(id, cost: 25), counters: budget)
            #expect(!settled.duplicate && settled.cost == Nanos(25))
            #expect(try await store.counter(key: key, periodStart: 0) == CounterState(spent: Nanos(25), reserved: .zero))
            let again = try await store.settle(record(id, cost: 99), counters: budget)
            #expect(again.duplicate && again.cost == Nanos(25))
            #expect(try await store.counter(key: key, periodStart: 0) == CounterState(spent: Nanos(25), reserved: .zero))
            #expect(try await store.usageRecord(requestId: id)?.usage.cachedTokens == 2)
        }
    }

    @Test(arguments: Backend.allCases) func thresholdAlertsFireOncePerPeriod(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let key = unique("k")
            let budget = [counter(key, limit: 100, hard: false)]
            let first = try await store.settle(record(unique("r"), cost: 55), counters: budget)
            #expect(first.alerts.map(\.threshold) == [50])
            let second = try await store.settle(record(unique("r"), cost: 50), counters: budget)
            #expect(second.alerts.map(\.threshold) == [80, 100])
            let third = try await store.settle(record(unique("r"), cost: 50), counters: budget)
            #expect(third.alerts.isEmpty)
        }
    }

    /// A batch gives, record by record, what settling each in order gives: duplicates (against the
    /// database and within the batch), thresholds on the record that crossed them, reservations
    /// released, counters raised by the sum.
    @Test(arguments: Backend.allCases) func aBatchSettlesLikeOneRecordAfterAnother(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let key = unique("k"), other = unique("k")
            let budget = [counter(key, limit: 100, hard: false), counter(other, limit: 1000, hard: false)]
            let old = unique("r"), a = unique("r"), b = unique("r"), c = unique("r")
            _ = try await store.settle(record(old, cost: 10), counters: budget)
            _ = try await store.reserve(requestId: a, counters: budget, amount: Nanos(40), expiresAt: .max)
            let results = try await store.settle(batch: [
                PendingSettlement(record: record(a, cost: 35), counters: budget),  // 10 → 45
                PendingSettlement(record: record(old, cost: 99), counters: budget),  // already billed
                PendingSettlement(record: record(b, cost: 40), counters: budget),  // 45 → 85: 50 and 80
                PendingSettlement(record: record(a, cost: 77), counters: budget),  // repeated in the batch
                PendingSettlement(record: record(c, cost: 20), counters: [budget[0]]),  // 85 → 105: 100
            ])
            #expect(results.map(\.duplicate) == [false, true, false, true, false])
            #expect(results.map(\.cost) == [Nanos(35), Nanos(10), Nanos(40), Nanos(35), Nanos(20)])
            #expect(results.map { $0.alerts.filter { $0.counterKey == key }.map(\.threshold) } == [[], [], [50, 80], [], [100]])
            #expect(results[2].alerts.first?.spent == Nanos(85))
            #expect(try await store.counter(key: key, periodStart: 0) == CounterState(spent: Nanos(105), reserved: .zero))
            #expect(try await store.counter(key: other, periodStart: 0)?.spent == Nanos(85))
            #expect(try await store.usageRecord(requestId: a)?.cost == Nanos(35))
            #expect(try await store.settle(batch: []).isEmpty)
        }
    }

    @Test(arguments: Backend.allCases) func relayCallsAreRecordedInOneStatementOnceEach(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            func call(_ id: String, events: Int) -> RelayCallRecord {
                RelayCallRecord(
                    requestId: id, product: "p", deployment: "d", streaming: true, backendStatus: 200, accounting: .usage,
                    promptTokens: 3, completionTokens: events, eventsForwarded: events, clientDisconnected: false,
                    backendRequestId: nil, createdAt: 1000)
            }
            let first = unique("c"), second = unique("c")
            try await store.recordRelayCalls([call(first, events: 4), call(second, events: 7), call(first, events: 9)])
            try await store.recordRelayCalls([call(second, events: 8)])
            #expect(try await store.relayCall(requestId: first)?.eventsForwarded == 4)
            #expect(try await store.relayCall(requestId: second)?.eventsForwarded == 7)
        }
    }

    @Test(arguments: Backend.allCases) func expiredReservationsAreReleased(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let key = unique("k")
            _ = try await store.reserve(requestId: unique("r"), counters: [counter(key, limit: 100)], amount: Nanos(70), expiresAt: 10)
            #expect(try await store.expireReservations(now: 11) >= 1)
            #expect(try await store.counter(key: key, periodStart: 0)?.reserved == .zero)
            let after = try await store.reserve(requestId: unique("r"), counters: [counter(key, limit: 100)], amount: Nanos(70), expiresAt: .max)
            #expect(after.allowed)
        }
    }

    @Test(arguments: Backend.allCases) func concurrentReservationsNeverOverspend(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let key = unique("k")
            let budget = [counter(key, limit: 1000)]
            let allowed = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<60 {
                    group.addTask {
                        try await store.reserve(requestId: unique("r"), counters: budget, amount: Nanos(100), expiresAt: .max).allowed
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(allowed == 10)
            #expect(try await store.counter(key: key, periodStart: 0)?.reserved == Nanos(1000))
        }
    }

    @Test(arguments: Backend.allCases) func chargebackSumsAreExact(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let base = Int64.random(in: 1_000_000...4_000_000_000)
            let product = unique("p")
            let costs: [Int64] = [1, 333_333_333, 4_500_000, 7, 999_999_999]
            for (index, cost) in costs.enumerated() {
                _ = try await store.settle(
                    record(unique("r"), product: index % 2 == 0 ? product : product + "-b", cost: cost, at: base + Int64(index),
                           model: index % 3 == 0 ? "gpt-4o" : "o3", user: index == 1 ? nil : "ann"),
                    counters: [])
            }
            let total = try await store.chargeback(from: base, to: base + 100, groupBy: [])
            #expect(total.total.cost == Nanos(costs.reduce(0, +)))
            #expect(total.total.requests == 5)
            for dimensions in [[ChargebackDimension.product], [.model], [.product, .model, .user], [.day]] {
                let grouped = try await store.chargeback(from: base, to: base + 100, groupBy: dimensions)
                #expect(grouped.rows.reduce(Nanos.zero) { $0 + $1.cost } == total.total.cost)
                #expect(grouped.rows.reduce(0) { $0 + $1.requests } == 5)
                #expect(grouped.rows.reduce(0) { $0 + $1.promptTokens } == total.total.promptTokens)
            }
            let none = try await store.chargeback(from: base + 100, to: base + 200, groupBy: [.product])
            #expect(none.rows.isEmpty && none.total.cost == .zero)
        }
    }

    @Test(arguments: Backend.allCases) func alertsAreStoredOnce(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let id = unique("alert")
            let first = try await store.recordAlert(id: id, product: "p", kind: "common", payload: "{}", at: 1)
            let second = try await store.recordAlert(id: id, product: "p", kind: "common", payload: "{}", at: 2)
            #expect(first && !second)
        }
    }
}
