import AsyncHTTPClient
import Foundation
import GatewayModel
import GatewayRuntime
import Logging
import NIOCore
import NIOHTTP1
import PTUSimulator
import RuntimeStorage
import Testing
import UsageAccounting

enum StoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres
    var testDescription: String { rawValue }

    func open() async throws -> SQLRuntimeStore? {
        let url: String
        switch self {
        case .sqlite:
            url = "sqlite:" + FileManager.default.temporaryDirectory.appendingPathComponent("jobs-\(UUID().uuidString).db").path
        case .postgres:
            guard let postgres = postgresURL() else { return nil }
            url = postgres
        }
        let store = try await SQLRuntimeStore.open(url: url, logger: Logger(label: "jobs-test"))
        try await store.migrate()
        return store
    }
}

func newJob(_ deployment: String, key: String? = nil, priority: Int = 0, notAfter: Int64? = nil, maxAttempts: Int = 3) -> NewJob {
    NewJob(
        id: "job_\(UUID().uuidString)", idempotencyKey: key, product: "team-a", subscription: "s", user: nil,
        deployment: deployment, model: "gpt-4o", request: "{}", priority: priority, notAfter: notAfter, maxAttempts: maxAttempts)
}

/// The job queue on both back ends: idempotency, leasing, fencing, expiry, cancel.
@Suite struct JobStoreTests {
    @Test(arguments: StoreBackend.allCases) func leaseLifecycle(backend: StoreBackend) async throws {
        guard let store = try await backend.open() else { return }
        defer { Task { await store.close() } }
        let deployment = "dep-\(UUID().uuidString.prefix(8))"
        let key = "key-\(UUID().uuidString)"
        let (first, created) = try await store.enqueue(newJob(deployment, key: key), now: 1000)
        #expect(created)
        let (again, createdAgain) = try await store.enqueue(newJob(deployment, key: key), now: 1001)
        #expect(!createdAgain)
        #expect(again.id == first.id)
        let urgent = try await store.enqueue(newJob(deployment, priority: 5), now: 1002).job
        let late = try await store.enqueue(newJob(deployment, notAfter: 1500), now: 1003).job
        let cancelled = try await store.enqueue(newJob(deployment), now: 1004).job
        #expect(try await store.cancelJob(id: cancelled.id, now: 1005)?.status == .cancelled)

        let leased = try await store.leaseJobs(deployment: deployment, owner: "r1", limit: 10, leaseMillis: 100, now: 1006)
        #expect(leased.map(\.id).first == urgent.id)
        #expect(Set(leased.map(\.id)) == [first.id, urgent.id, late.id])
        #expect(try await store.cancelJob(id: first.id, now: 1007)?.status == .dispatched)
        #expect(try await store.leaseJobs(deployment: deployment, owner: "r2", limit: 10, leaseMillis: 100, now: 1008).isEmpty)

        let tokenOf = Dictionary(uniqueKeysWithValues: leased.map { ($0.id, $0.leaseToken!) })
        // Renewal keeps the lease; a lapsed one is taken over and the old token is fenced off.
        #expect(try await store.renewLeases(tokens: [tokenOf[first.id]!], until: 5000, now: 1050) == 1)
        let takeover = try await store.leaseJobs(deployment: deployment, owner: "r2", limit: 10, leaseMillis: 1000, now: 1200)
        #expect(Set(takeover.map(\.id)) == [urgent.id, late.id])
        #expect(takeover.allSatisfy { $0.attempts == 2 })
        #expect(try await store.completeJob(
            id: urgent.id, leaseToken: tokenOf[urgent.id]!, resultStatus: 200, result: "{}", usage: nil, cost: nil,
            backendRequestId: nil, now: 1201) == false)
        let newToken = takeover.first { $0.id == urgent.id }!.leaseToken!
        #expect(try await store.completeJob(
            id: urgent.id, leaseToken: newToken, resultStatus: 200, result: "{\"ok\":true}",
            usage: TokenUsage(promptTokens: 3, completionTokens: 4), cost: Nanos(77), backendRequestId: "b1", now: 1202))
        let done = try #require(try await store.job(id: urgent.id))
        #expect(done.status == .succeeded)
        #expect(done.usage?.completionTokens == 4)
        #expect(done.cost == Nanos(77))

        // A 429 requeues without using up an attempt.
        let lateToken = takeover.first { $0.id == late.id }!.leaseToken!
        #expect(try await store.requeueJob(id: late.id, leaseToken: lateToken, nextAttemptAt: 1400, throttled: true, error: "429", now: 1203))
        #expect(try await store.job(id: late.id)?.throttles == 1)
        #expect(try await store.leaseJobs(deployment: deployment, owner: "r1", limit: 10, leaseMillis: 100, now: 1300).isEmpty)
        // Past notAfter it expires instead of being dispatched.
        #expect(try await store.leaseJobs(deployment: deployment, owner: "r1", limit: 10, leaseMillis: 100, now: 1600).map(\.id) == [])
        #expect(try await store.job(id: late.id)?.status == .expired)

        // Failing under the lease; the first job's renewed lease is still valid.
        #expect(try await store.failJob(id: first.id, leaseToken: tokenOf[first.id]!, resultStatus: 400, result: "{}", error: "bad", now: 1700))
        let counts = try await store.jobCounts(deployment: deployment)
        #expect(counts == [.succeeded: 1, .failed: 1, .expired: 1, .cancelled: 1])
        #expect(try await store.jobs(status: .failed, deployment: deployment, limit: 10).map(\.id) == [first.id])
    }

    @Test(arguments: StoreBackend.allCases) func lapsedLeaseOnLastAttemptFails(backend: StoreBackend) async throws {
        guard let store = try await backend.open() else { return }
        defer { Task { await store.close() } }
        let deployment = "dep-\(UUID().uuidString.prefix(8))"
        let job = try await store.enqueue(newJob(deployment, maxAttempts: 1), now: 0).job
        #expect(try await store.leaseJobs(deployment: deployment, owner: "r1", limit: 1, leaseMillis: 10, now: 1).count == 1)
        #expect(try await store.leaseJobs(deployment: deployment, owner: "r2", limit: 1, leaseMillis: 10, now: 100).isEmpty)
        #expect(try await store.job(id: job.id)?.status == .failed)
    }

    /// Two leasers racing on PostgreSQL never get the same job.
    @Test func concurrentLeasesAreDisjoint() async throws {
        guard let store = try await StoreBackend.postgres.open() else { return }
        defer { Task { await store.close() } }
        let deployment = "dep-\(UUID().uuidString.prefix(8))"
        for index in 0..<200 { _ = try await store.enqueue(newJob(deployment), now: Int64(index)) }
        let results = try await withThrowingTaskGroup(of: [String].self) { group in
            for replica in 0..<4 {
                group.addTask {
                    var mine: [String] = []
                    while true {
                        let batch = try await store.leaseJobs(
                            deployment: deployment, owner: "r\(replica)", limit: 7, leaseMillis: 600_000, now: 10_000)
                        if batch.isEmpty { return mine }
                        mine += batch.map(\.id)
                    }
                }
            }
            var all: [[String]] = []
            for try await ids in group { all.append(ids) }
            return all
        }
        let flat = results.flatMap { $0 }
        #expect(flat.count == 200)
        #expect(Set(flat).count == 200)
    }
}

/// The jobs API and the dispatcher in one in-process runtime on SQLite.
@Suite(.serialized) struct JobsAPITests {
    func submit(_ port: Int, _ body: [String: Any], headers: [String: String] = [:]) async throws -> HTTPResult {
        try await send("http://127.0.0.1:\(port)/v1/jobs", json: body, headers: headers)
    }

    @Test func jobsRunAndBillOnce() async throws {
        var configuration = fastSimulator()
        configuration.timeScale = 20
        try await withSimulator(configuration) { simulator, simPort in
            try await withRuntime(configuration: try runtimeConfiguration(simulatorPort: simPort), tokenCounter: nil) { port, database in
                var ids: [String] = []
                for index in 0..<20 {
                    let result = try await submit(
                        port, ["deployment": ptuDeployment, "product": "team-a", "request": chatRequest(maxTokens: 30, salt: "\(index)"),
                               "idempotencyKey": "k-\(index)"])
                    #expect(result.status == 202)
                    ids.append(try #require(result.json?["id"] as? String))
                }
                let repeatResult = try await submit(
                    port, ["deployment": ptuDeployment, "product": "team-a", "request": chatRequest(), "idempotencyKey": "k-3"])
                #expect(repeatResult.status == 200)
                #expect(repeatResult.json?["id"] as? String == ids[3])

                let finished = try await eventually(seconds: 30) {
                    let list = try await send(.GET, "http://127.0.0.1:\(port)/v1/jobs?deployment=\(ptuDeployment)").json
                    return (list?["counts"] as? [String: Int])?["succeeded"] == 20
                }
                #expect(finished)
                for id in ids {
                    let job = try #require(try await send(.GET, "http://127.0.0.1:\(port)/v1/jobs/\(id)").json)
                    #expect(job["status"] as? String == "succeeded")
                    let backend = try #require(job["backendRequestId"] as? String)
                    let log = try #require(simulator.log(requestId: backend))
                    let usage = try #require(job["usage"] as? [String: Any])
                    #expect(usage["completionTokens"] as? Int == log.completionTokensSent)
                    #expect(usage["promptTokens"] as? Int == log.promptTokens)
                    let record = try #require(try await usageRecord(database: database, requestId: "job-\(id)"))
                    #expect(record.usage.completionTokens == log.completionTokensSent)
                    #expect(record.api == "jobs")
                }
                #expect(simulator.generations().values.allSatisfy { $0 == 1 })
                #expect(simulator.stats().duplicateGenerations == 0)
                // Only queued jobs can be cancelled.
                #expect(try await send(.DELETE, "http://127.0.0.1:\(port)/v1/jobs/\(ids[0])").status == 409)
                #expect(try await send(.DELETE, "http://127.0.0.1:\(port)/v1/jobs/nope").status == 404)
            }
        }
    }

    @Test func rejectsBadJobs() async throws {
        try await withSimulator(fastSimulator()) { _, simPort in
            try await withRuntime(configuration: try runtimeConfiguration(simulatorPort: simPort), tokenCounter: nil) { port, _ async throws in
                #expect(try await submit(port, ["deployment": "gpt-4o", "product": "team-a", "request": chatRequest()]).status == 400)
                #expect(try await submit(port, ["deployment": "nope", "product": "team-a", "request": chatRequest()]).status == 404)
                #expect(try await submit(port, ["deployment": ptuDeployment, "product": "nobody", "request": chatRequest()]).status == 404)
                #expect(try await submit(port, ["deployment": ptuDeployment, "request": chatRequest()]).status == 400)
                #expect(try await submit(port, ["deployment": ptuDeployment, "product": "team-a", "request": ["x": 1]]).status == 400)
                #expect(try await submit(port, ["deployment": ptuDeployment, "product": "team-a", "request": chatRequest(stream: true)]).status == 400)
                #expect(try await submit(port, ["deployment": ptuDeployment, "product": "team-a", "request": chatRequest(), "notAfter": "soon"]).status == 400)
                #expect(try await send(.GET, "http://127.0.0.1:\(port)/v1/jobs?status=weird").status == 400)
                // A deadline already passed: the job expires instead of running.
                let expired = try await submit(
                    port, ["deployment": ptuDeployment, "product": "team-a", "request": chatRequest(), "notAfter": "2020-01-01T00:00:00Z"])
                let id = try #require(expired.json?["id"] as? String)
                #expect(try await eventually {
                    try await send(.GET, "http://127.0.0.1:\(port)/v1/jobs/\(id)").json?["status"] as? String == "expired"
                })
            }
        }
    }

    /// Without the utilization header the dispatcher runs on 429 + retry-after-ms alone.
    @Test func dispatchWithoutUtilizationHeader() async throws {
        var configuration = PTUSimulatorConfiguration()
        configuration.tokensPerMinute = 60_000
        configuration.timeScale = 10
        configuration.sendUtilizationHeader = false
        configuration.backgroundLoadPercent = 50
        try await withSimulator(configuration) { simulator, simPort in
            try await withRuntime(configuration: try runtimeConfiguration(simulatorPort: simPort), tokenCounter: nil) { port, _ in
                for index in 0..<150 {
                    let result = try await submit(
                        port, ["deployment": ptuDeployment, "product": "team-a", "request": chatRequest(words: 30, maxTokens: 120, salt: "nh\(index)")])
                    #expect(result.status == 202)
                }
                let finished = try await eventually(seconds: 60) {
                    let list = try await send(.GET, "http://127.0.0.1:\(port)/v1/jobs?deployment=\(ptuDeployment)").json
                    return (list?["counts"] as? [String: Int])?["succeeded"] == 150
                }
                #expect(finished)
                let stats = simulator.stats()
                #expect(stats.duplicateGenerations == 0)
                #expect(stats.distinctKeys == 150)
                print("header-less dispatch: batch requests \(stats.externalRequests), 429 \(stats.externalThrottled), online 429 \(stats.backgroundThrottled)/\(stats.backgroundRequests)")
            }
        }
    }
}
