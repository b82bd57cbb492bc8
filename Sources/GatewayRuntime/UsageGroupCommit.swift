import GatewayModel
import Synchronization

/// Settles concurrent usage reports together (group commit): while one transaction runs, the reports
/// that arrive wait, and then all of them go into the next one. Each caller gets the result its
/// report would have had alone (``AccountingService/settle(batch:)``); nothing waits when there is
/// no other work, and a report is never delayed by more than the transaction in front of it.
final class UsageGroupCommit: Sendable {
    typealias Waiter = (prepared: AccountingService.PreparedUsage, continuation: CheckedContinuation<UsageResponse, any Error>)

    /// Largest group written at once (a usage row takes 14 of SQLite's 32,766 parameters).
    static let maximumGroup = 500

    private let state = Mutex<(waiting: [Waiter], writing: Bool)>(([], false))
    private let groups = Atomic<Int>(0)

    /// Groups written so far (tests, diagnostics).
    var groupsWritten: Int { groups.load(ordering: .relaxed) }

    /// Settles `prepared` in the next group.
    func settle(_ prepared: AccountingService.PreparedUsage, with service: AccountingService) async throws -> UsageResponse {
        try await withCheckedThrowingContinuation { continuation in
            let start = state.withLock { state -> Bool in
                state.waiting.append((prepared, continuation))
                if state.writing { return false }
                state.writing = true
                return true
            }
            if start { Task { await self.writeGroups(with: service) } }
        }
    }

    /// Writes groups until nobody waits.
    private func writeGroups(with service: AccountingService) async {
        while true {
            let group = state.withLock { state -> [Waiter] in
                let taken = Array(state.waiting.prefix(Self.maximumGroup))
                state.waiting.removeFirst(taken.count)
                if taken.isEmpty { state.writing = false }
                return taken
            }
            if group.isEmpty { return }
            groups.add(1, ordering: .relaxed)
            let results = await service.settleEach(group.map { $0.prepared })
            for (waiter, result) in zip(group, results) { waiter.continuation.resume(with: result) }
        }
    }
}
