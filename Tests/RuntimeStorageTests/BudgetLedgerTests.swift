import Foundation
import Logging
import Testing
@testable import RuntimeStorage
import UsageAccounting

/// The SQLite runtime's in-memory reservation ledger, alone and behind `SQLRuntimeStore`.
@Suite("Budget ledger") struct BudgetLedgerTests {
    /// Reserves until the ledger decides (loading counters as zero spend).
    func reserve(
        _ ledger: BudgetLedger, _ id: String, _ counters: [BudgetCounter], amount: Int64, expiresAt: Int64 = .max,
        now: Int64 = 0, spent: Int64 = 0
    ) -> ReservationResult {
        let hard = counters.filter(\.hard).sorted { $0.key < $1.key }
        let tracked = hard.isEmpty ? counters : hard
        while true {
            switch ledger.reserve(requestId: id, hard: hard, tracked: tracked, amount: amount, expiresAt: expiresAt, now: now) {
            case .decided(let result): return result
            case .load(let ids, let epoch): ledger.install(ids.map { ($0, spent) }, epoch: epoch, now: now)
            }
        }
    }

    @Test func concurrentReservationsNeverExceedTheLimit() async {
        let ledger = BudgetLedger()
        let shared = counter("shared", limit: 10_000)
        let allowed = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<1000 {
                group.addTask {
                    // Half the requests also need a second, roomier counter: all or nothing.
                    let counters = index % 2 == 0 ? [shared] : [shared, counter("roomy", limit: 1_000_000)]
                    return reserve(ledger, "r\(index)", counters, amount: 70).allowed
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(allowed == 10_000 / 70)
        #expect(ledger.counter(CounterID(key: "shared", periodStart: 0))!.reserved == Nanos(Int64(allowed) * 70))
        let roomy = ledger.counter(CounterID(key: "roomy", periodStart: 0))!.reserved.value
        #expect(roomy % 70 == 0 && roomy <= Int64(allowed) * 70)
        #expect(ledger.reservationCount == allowed)
    }

    @Test func aDeniedCounterReservesNothingOnTheOthers() {
        let ledger = BudgetLedger()
        let result = reserve(ledger, "r", [counter("a", limit: 1000), counter("b", limit: 10)], amount: 50)
        #expect(!result.allowed && result.remaining == Nanos(10))
        #expect(ledger.counter(CounterID(key: "a", periodStart: 0))!.reserved == .zero)
        #expect(ledger.reservationCount == 0)
    }

    @Test func aRepeatedRequestIdIsADuplicateAndReservesNothing() {
        let ledger = BudgetLedger()
        let budget = [counter("k", limit: 100)]
        #expect(reserve(ledger, "same", budget, amount: 30).remaining == Nanos(70))
        let again = reserve(ledger, "same", budget, amount: 30)
        #expect(again.allowed && again.duplicate && again.remaining == Nanos(70))
        #expect(ledger.counter(CounterID(key: "k", periodStart: 0))!.reserved == Nanos(30))
    }

    @Test func expiredReservationsAreReleased() {
        let ledger = BudgetLedger()
        let budget = [counter("k", limit: 100)]
        #expect(reserve(ledger, "a", budget, amount: 60, expiresAt: 10).allowed)
        #expect(reserve(ledger, "b", budget, amount: 30, expiresAt: 20).allowed)
        #expect(!reserve(ledger, "c", budget, amount: 60, expiresAt: 20).allowed)
        #expect(ledger.expire(now: 10) == 0)  // expires strictly before `now`, as in the database
        #expect(ledger.expire(now: 11) == 1)
        #expect(ledger.counter(CounterID(key: "k", periodStart: 0))!.reserved == Nanos(30))
        #expect(reserve(ledger, "c", budget, amount: 60, expiresAt: 20).allowed)
        // A settled reservation is not expired (or released) a second time.
        ledger.settled(requestId: "b", spent: [(CounterID(key: "k", periodStart: 0), 25)])
        #expect(ledger.expire(now: 21) == 1)
        #expect(ledger.counter(CounterID(key: "k", periodStart: 0)) == CounterState(spent: Nanos(25), reserved: .zero))
    }

    @Test func settlementRaisesSpentAndAStaleLoadCannotLowerIt() {
        let ledger = BudgetLedger()
        let id = CounterID(key: "k", periodStart: 0)
        #expect(reserve(ledger, "a", [counter("k", limit: 100)], amount: 40, spent: 10).remaining == Nanos(50))
        ledger.settled(requestId: "a", spent: [(id, 45)])
        #expect(ledger.counter(id) == CounterState(spent: Nanos(45), reserved: .zero))
        // A load that read the database before that commit arrives late.
        let stale: [(id: CounterID, spent: Int64)] = [(id, 10)]
        #expect(ledger.install(stale, epoch: 0, now: 0))
        #expect(ledger.counter(id)?.spent == Nanos(45))
        // A settlement of a counter no check has loaded yet installs the committed value.
        ledger.settled(requestId: "unknown", spent: [(CounterID(key: "other", periodStart: 0), 7)])
        #expect(ledger.counter(CounterID(key: "other", periodStart: 0)) == CounterState(spent: Nanos(7), reserved: .zero))
    }

    @Test func idleCountersAreEvictedAndLoadsFromBeforeAreDiscarded() {
        let ledger = BudgetLedger(idleSeconds: 60)
        #expect(reserve(ledger, "a", [counter("busy", limit: 100)], amount: 10, now: 1000).allowed)
        #expect(reserve(ledger, "b", [counter("idle", limit: 100)], amount: 10, expiresAt: 1001, now: 1000).allowed)
        #expect(ledger.expire(now: 2000) == 1)  // releases "b"; "idle" holds nothing and is dropped
        #expect(ledger.counter(CounterID(key: "idle", periodStart: 0)) == nil)
        #expect(ledger.counter(CounterID(key: "busy", periodStart: 0))?.reserved == Nanos(10))
        let fromBefore: [(id: CounterID, spent: Int64)] = [(CounterID(key: "idle", periodStart: 0), 5)]
        #expect(!ledger.install(fromBefore, epoch: 0, now: 2000))
    }

    // MARK: Behind the store (SQLite)

    func temporaryDatabase() throws -> (url: String, path: String, directory: URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-ledger-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("t.db").path
        return ("sqlite:" + path, path, directory)
    }

    @Test func aSecondOpenOfTheSameSQLiteFileFailsClearly() async throws {
        let (url, path, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let logger = Logger(label: "test")
        let first = try await SQLRuntimeStore.open(url: url, logger: logger)
        #expect(first.ledger != nil)
        do {
            let second = try await SQLRuntimeStore.open(url: url, logger: logger)
            await second.close()
            Issue.record("a second exclusive open succeeded")
        } catch let error as StoreError {
            guard case .databaseInUse(let lockedPath, let lockPath) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(lockedPath == path && lockPath == path + "-tollgate.lock")
            #expect(error.description.contains(path) && error.description.contains("PostgreSQL"))
        }
        // Reading beside the owner is allowed without the lock.
        let reader = try await SQLRuntimeStore.open(url: url, logger: logger, exclusive: false)
        #expect(reader.ledger == nil)
        await reader.close()
        // Closing releases the lock.
        await first.close()
        let reopened = try await SQLRuntimeStore.open(url: url, logger: logger)
        await reopened.close()
    }

    @Test func spendSurvivesARestartAndALostReservationStillSettles() async throws {
        let (url, _, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let logger = Logger(label: "test")
        let budget = [counter("k", limit: 100)]
        let first = try await SQLRuntimeStore.open(url: url, logger: logger)
        try await first.migrate()
        #expect(try await first.reserve(requestId: "a", counters: budget, amount: Nanos(30), expiresAt: .max).allowed)
        _ = try await first.settle(record("a", cost: 20), counters: budget)
        #expect(try await first.reserve(requestId: "b", counters: budget, amount: Nanos(50), expiresAt: .max).remaining == Nanos(30))
        await first.close()  // "b" was in flight: its reservation is gone with the process

        let second = try await SQLRuntimeStore.open(url: url, logger: logger)
        try await second.migrate()
        #expect(try await second.counter(key: "k", periodStart: 0) == CounterState(spent: Nanos(20), reserved: .zero))
        let settled = try await second.settle(record("b", cost: 45), counters: budget)
        #expect(!settled.duplicate)
        #expect(try await second.counter(key: "k", periodStart: 0) == CounterState(spent: Nanos(65), reserved: .zero))
        let next = try await second.reserve(requestId: "c", counters: budget, amount: Nanos(40), expiresAt: .max)
        #expect(!next.allowed && next.remaining == Nanos(35))
        #expect(try await second.settle(record("a", cost: 20), counters: budget).duplicate)
        await second.close()
    }
}
