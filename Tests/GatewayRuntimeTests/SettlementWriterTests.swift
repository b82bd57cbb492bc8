import Foundation
import GatewayModel
import Logging
import RuntimeStorage
import ServiceLifecycle
import Testing
import UsageAccounting

@testable import GatewayRuntime

/// A real SQLite store with product `p` (a $100 total budget) and its accounting service.
func withAccountingService(_ body: (AccountingService, SQLRuntimeStore) async throws -> Void) async throws {
    try await withTemporaryDirectory { directory in
        let settings = try makeSettings(
            databaseURL: "sqlite:" + directory.appendingPathComponent("w.db").path,
            products: [
                .init(
                    id: "p", displayName: "P",
                    budgets: [Budget(amount: Money(string: "100")!, period: .total, scope: .product, enforcement: .hard)],
                    defaultEstimatedTokens: 1000, subscriptions: [])
            ])
        let logger = Logger(label: "test")
        let store = try await openStore(settings: settings, logger: logger)
        let service = AccountingService(store: store, settings: settings, metrics: RuntimeMetrics(), logger: logger)
        do { try await body(service, store) } catch {
            await store.close()
            throw error
        }
        await store.close()
    }
}

/// The relay's group commit: many calls, few transactions, nothing lost on shutdown.
@Suite struct SettlementWriterTests {
    func call(_ id: String) -> RelayCallRecord {
        RelayCallRecord(
            requestId: id, product: "p", deployment: "gpt-4o-ptu", streaming: false, backendStatus: 200, accounting: .usage,
            promptTokens: 0, completionTokens: 1000, eventsForwarded: 0, clientDisconnected: false, backendRequestId: nil,
            createdAt: 1000)
    }

    /// 1000 completion tokens of gpt-4o: $0.01.
    func usage(_ id: String, service: AccountingService) async throws -> AccountingService.PreparedUsage {
        try await service.prepare(
            UsageReport(
                requestId: id, product: "p", subscription: "s", model: "gpt-4o", streaming: false,
                usage: TokenUsage(promptTokens: 0, completionTokens: 1000)))
    }

    /// Runs `writer` in a service group, calls `body`, then shuts the group down gracefully.
    func running(_ writer: SettlementWriter, _ body: () async throws -> Void) async throws {
        let group = ServiceGroup(services: [writer], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test func manyCallsAreWrittenInFewTransactions() async throws {
        try await withAccountingService { service, store in
            let writer = SettlementWriter(service: service, store: store, delay: .milliseconds(50), logger: Logger(label: "test"))
            try await running(writer) {
                for index in 0..<300 {
                    let id = "call-\(index)"
                    // Every third call has no known usage: recorded, not billed.
                    writer.submit(call: call(id), usage: index % 3 == 0 ? nil : try await usage(id, service: service))
                }
                // A repeat of a call already submitted bills nothing more.
                writer.submit(call: call("call-1"), usage: try await usage("call-1", service: service))
                let deadline = ContinuousClock.now + .seconds(10)
                while try await store.relayCall(requestId: "call-299") == nil, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            #expect(writer.batchesWritten <= 5)
            #expect(try await store.relayCall(requestId: "call-0")?.completionTokens == 1000)
            #expect(try await store.usageRecord(requestId: "call-0") == nil)
            #expect(try await store.usageRecord(requestId: "call-2")?.cost == Nanos(10_000_000))
            // 200 billed calls at $0.01 each.
            let spent = try #require(try await store.counter(key: "p|total|product|", periodStart: 0))
            #expect(spent.spent == Nanos(2_000_000_000))
        }
    }

    @Test func gracefulShutdownWritesWhatIsStillWaiting() async throws {
        try await withAccountingService { service, store in
            // A gathering time far longer than the test: only the shutdown can write these.
            let writer = SettlementWriter(service: service, store: store, delay: .seconds(600), logger: Logger(label: "test"))
            try await running(writer) {
                for index in 0..<20 {
                    writer.submit(call: call("late-\(index)"), usage: try await usage("late-\(index)", service: service))
                }
            }
            for index in 0..<20 {
                #expect(try await store.usageRecord(requestId: "late-\(index)") != nil)
                #expect(try await store.relayCall(requestId: "late-\(index)") != nil)
            }
            // After shutdown a late call is still written, at once.
            writer.submit(call: call("after"), usage: try await usage("after", service: service))
            let deadline = ContinuousClock.now + .seconds(10)
            while try await store.usageRecord(requestId: "after") == nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try await store.usageRecord(requestId: "after") != nil)
        }
    }
}
