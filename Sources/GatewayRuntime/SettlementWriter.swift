import Foundation
import Logging
import RuntimeStorage
import ServiceLifecycle
import Synchronization
import UsageAccounting

/// Writes the relay's settlements in batches (group commit), off the relay's path.
///
/// A relayed call hands its record and priced usage to ``submit(call:usage:)`` and returns at once.
/// The writer waits ``delay`` after the first submission, then writes everything that arrived — the
/// call records in one transaction, the usage (idempotent on the request id, same rules as
/// `/v1/usage`) in another — and starts again. Under load a batch holds many calls, so a call costs
/// a fraction of a commit instead of two.
///
/// What a crash loses: calls submitted but not yet written (at most ``delay`` plus one write, the
/// same window the relay's settlement always had, since it happens after the answer was sent). On
/// graceful shutdown everything submitted is written before the service returns.
final class SettlementWriter: Service, Sendable {
    /// One relayed call waiting to be written.
    struct Item: Sendable {
        var call: RelayCallRecord
        var usage: AccountingService.PreparedUsage?
    }

    let service: AccountingService
    let store: any JobStore
    let delay: Duration
    let logger: Logging.Logger
    /// Largest batch written at once (SQLite allows 32,766 parameters; a usage row takes 14).
    static let maximumBatch = 1000

    /// Submitted items, and whether the writer has stopped (later items are written at once).
    private let pending = Mutex<(items: [Item], closed: Bool)>(([], false))
    private let wake: AsyncStream<Void>.Continuation
    private let wakeups: AsyncStream<Void>
    /// Batches written (for tests and logs).
    private let written = Atomic<Int>(0)

    init(service: AccountingService, store: any JobStore, delay: Duration, logger: Logging.Logger) {
        self.service = service
        self.store = store
        self.delay = delay
        self.logger = logger
        (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues one call's record and, when its usage is known, its settlement.
    func submit(call: RelayCallRecord, usage: AccountingService.PreparedUsage?) {
        let closed = pending.withLock { state in
            state.items.append(Item(call: call, usage: usage))
            return state.closed
        }
        if closed {
            Task { await self.writeAll(limit: .max) }
        } else {
            wake.yield()
        }
    }

    /// Number of batches written so far.
    var batchesWritten: Int { written.load(ordering: .relaxed) }

    func run() async {
        await withGracefulShutdownHandler {
            for await _ in wakeups {
                // The gathering time ends early when the service is asked to stop.
                if delay > .zero { try? await cancelWhenGracefulShutdown { [delay] in try await Task.sleep(for: delay) } }
                // Only what has gathered: items that arrive during the write wait for the next
                // round (their submission has already queued a wake-up).
                await writeAll(limit: pending.withLock { $0.items.count })
            }
            // Shutting down: whatever arrived after the last wake-up.
            pending.withLock { $0.closed = true }
            await writeAll(limit: .max)
        } onGracefulShutdown: {
            self.wake.finish()
        }
    }

    /// Writes up to `limit` of the oldest submitted items, in batches of at most ``maximumBatch``.
    func writeAll(limit: Int) async {
        var remaining = limit
        while remaining > 0 {
            let batch = pending.withLock { state -> [Item] in
                let taken = Array(state.items.prefix(min(Self.maximumBatch, remaining)))
                state.items.removeFirst(taken.count)
                return taken
            }
            if batch.isEmpty { return }
            remaining -= batch.count
            await write(batch)
        }
    }

    private func write(_ batch: [Item]) async {
        written.add(1, ordering: .relaxed)
        do {
            try await store.recordRelayCalls(batch.map(\.call))
        } catch {
            logger.error(
                "relay: cannot record calls", metadata: ["count": "\(batch.count)", "error": "\(error)"])
        }
        let usage = batch.compactMap(\.usage)
        guard !usage.isEmpty else { return }
        for (item, result) in zip(usage, await service.settleEach(usage)) {
            if case .failure(let error) = result {
                logger.error("relay: settlement failed", metadata: ["requestId": "\(item.record.requestId)", "error": "\(error)"])
            }
        }
    }
}
