import Foundation
import GatewayModel
import Testing
import UsageAccounting

@testable import GatewayRuntime

/// Concurrent `/v1/usage` reports share transactions, and each still gets its own answer.
@Suite struct UsageGroupCommitTests {
    @Test func concurrentReportsAreGroupedAndEachIsAnsweredAsIfAlone() async throws {
        try await withAccountingService { service, store in
            // 300 calls, each reported twice at the same time: one bills, the other is a duplicate.
            let answers = try await withThrowingTaskGroup(of: UsageResponse.self) { group in
                for index in 0..<600 {
                    group.addTask {
                        try await service.usage(
                            UsageReport(
                                requestId: "u-\(index % 300)", product: "p", subscription: "s", model: "gpt-4o",
                                streaming: false, usage: TokenUsage(promptTokens: 0, completionTokens: 1000)))
                    }
                }
                return try await group.reduce(into: [UsageResponse]()) { $0.append($1) }
            }
            #expect(answers.count == 600)
            #expect(answers.allSatisfy { $0.cost == "0.010000" })
            let byId = Dictionary(grouping: answers, by: \.requestId)
            #expect(byId.count == 300)
            #expect(byId.values.allSatisfy { $0.filter(\.duplicate).count == 1 })
            #expect(try await store.counter(key: "p|total|product|", periodStart: 0)?.spent == Nanos(3_000_000_000))
            // Grouped: far fewer transactions than reports.
            #expect(service.groupCommit.groupsWritten < 600)
            // An unknown product is still refused before anything is queued.
            await #expect(throws: APIError.self) {
                try await service.usage(
                    UsageReport(
                        requestId: "x", product: "nope", subscription: "s", model: "gpt-4o", streaming: false,
                        usage: TokenUsage(promptTokens: 1, completionTokens: 1)))
            }
        }
    }
}
