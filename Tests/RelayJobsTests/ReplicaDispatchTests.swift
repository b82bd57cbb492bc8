import AsyncHTTPClient
import Foundation
import GatewayModel
import Logging
import NIOCore
import NIOHTTP1
import PTUSimulator
import RuntimeStorage
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A `tollgate-runtime` process.
final class RuntimeProcess: @unchecked Sendable {
    let process = Process()
    let port: Int

    /// The built executable: next to the test bundle, or in .build/debug.
    static func executable() -> URL? {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tollgate-runtime"),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("tollgate-runtime"),
            packageRoot.appendingPathComponent(".build/debug/tollgate-runtime"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    init(executable: URL, config: URL, environment: [String: String]) async throws {
        process.executableURL = executable
        process.arguments = ["--config", config.path, "--host", "127.0.0.1", "--port", "0"]
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        env["LOG_LEVEL"] = "warning"
        process.environment = env
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        let handle = output.fileHandleForReading
        let line = await Task.detached { () -> String in
            var data = Data()
            while true {
                let byte = handle.readData(ofLength: 1)
                if byte.isEmpty || byte == Data("\n".utf8) { break }
                data.append(byte)
            }
            return String(decoding: data, as: UTF8.self)
        }.value
        guard let portText = line.split(separator: ":").last, let port = Int(portText) else {
            process.terminate()
            throw RuntimeProcessError.noPort(line)
        }
        self.port = port
    }

    func kill9() { kill(process.processIdentifier, SIGKILL) }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    enum RuntimeProcessError: Error { case noPort(String) }
}

/// The acceptance scenario, time-compressed: 500 jobs, 2 replicas on PostgreSQL, online traffic at 50%
/// of capacity, target 80%, one replica SIGKILLed mid-run. Every job must succeed exactly once.
///
/// Scale: the simulator runs 5 simulated seconds per real second; 300,000 tokens per simulated minute;
/// a 10 s (simulated) utilization window. The dispatcher's own durations are scaled by the same 1/5
/// (decrease cool-down 200 ms = 1 simulated second, hint age 1 s, lease 3 s).
@Suite(.serialized) struct ReplicaDispatchTests {
    @Test func fiveHundredJobsTwoReplicasOneKilled() async throws {
        guard let database = postgresURL() else { return }
        guard let executable = RuntimeProcess.executable() else {
            Issue.record("tollgate-runtime is not built next to the tests (swift build --product tollgate-runtime)")
            return
        }
        var simulatorConfiguration = PTUSimulatorConfiguration()
        simulatorConfiguration.tokensPerMinute = 300_000
        simulatorConfiguration.timeScale = 5
        simulatorConfiguration.backgroundLoadPercent = 50
        let deployment = "gpt-4o-ptu-replicas-\(UUID().uuidString.prefix(8).lowercased())"
        try await withSimulator(simulatorConfiguration) { simulator, simPort in
            // A fresh queue for this deployment.
            let store = try await SQLRuntimeStore.open(url: database, logger: Logger(label: "replica-test"))
            try await store.migrate()
            _ = try await store.driver.transaction { session in
                try await session.query("DELETE FROM jobs WHERE deployment LIKE 'gpt-4o-ptu-replicas-%'", [])
            }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("replicas-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let config = directory.appendingPathComponent("runtime-config.json")
            try JSONEncoder().encode(try runtimeConfiguration(simulatorPort: simPort, target: 80, ptuName: deployment)).write(to: config)
            func environment(_ id: String) -> [String: String] {
                [
                    "TOLLGATE_DATABASE_URL": database, "TOLLGATE_GATEWAY_KEY": gatewayKey, "TOLLGATE_ADMIN_KEY": adminKey,
                    "TOLLGATE_REPLICA_ID": id, "TOLLGATE_DISPATCH_LEASE_MS": "3000", "TOLLGATE_DISPATCH_POLL_MS": "20",
                    "TOLLGATE_DISPATCH_DECREASE_COOLDOWN_MS": "200", "TOLLGATE_DISPATCH_HINT_MAX_AGE_MS": "1000",
                ]
            }
            let first = try await RuntimeProcess(executable: executable, config: config, environment: environment("replica-1"))
            let second = try await RuntimeProcess(executable: executable, config: config, environment: environment("replica-2"))
            defer {
                first.stop()
                second.stop()
                Task { await store.close() }
            }

            // 500 jobs, submitted to both replicas.
            let ids = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<500 {
                    let port = index % 2 == 0 ? first.port : second.port
                    group.addTask {
                        let result = try await send(
                            "http://127.0.0.1:\(port)/v1/jobs",
                            json: ["deployment": deployment, "product": "team-a", "idempotencyKey": "\(deployment)-\(index)",
                                   "request": chatRequest(words: 40, maxTokens: 200, salt: "job \(index)")])
                        guard let id = result.json?["id"] as? String else { throw RuntimeProcess.RuntimeProcessError.noPort("no id") }
                        return id
                    }
                    if index % 16 == 15 { _ = try await group.next() }
                }
                var ids: [String] = []
                for try await id in group { ids.append(id) }
                return ids
            }
            _ = ids
            func counts() async throws -> [String: Int] {
                (try await send(.GET, "http://127.0.0.1:\(first.port)/v1/jobs?deployment=\(deployment)&limit=1").json?["counts"]
                    as? [String: Int]) ?? [:]
            }
            // Kill replica 2 once a third of the jobs are done.
            let started = ContinuousClock.now
            #expect(try await eventually(seconds: 120) { (try await counts()["succeeded"] ?? 0) >= 170 })
            second.kill9()
            let killedAt = ContinuousClock.now - started
            let finished = try await eventually(seconds: 180) { (try await counts()["succeeded"] ?? 0) == 500 }
            let elapsed = ContinuousClock.now - started
            let final = try await counts()
            #expect(finished, "counts: \(final)")
            #expect(final["failed"] == 0 && final["expired"] == 0 && final["queued"] == 0 && final["dispatched"] == 0)

            // Exactly once at the backend: one generation per job key, no duplicates, replays counted.
            let stats = simulator.stats()
            let generations = simulator.generations()
            let jobs = try await store.jobs(status: nil, deployment: deployment, limit: 1000)
            #expect(jobs.count == 500)
            for job in jobs {
                #expect(job.status == .succeeded)
                #expect(generations["tollgate-job-\(job.id)"] == 1, "job \(job.id) generated \(generations["tollgate-job-\(job.id)"] ?? 0) times")
                #expect(job.backendRequestId != nil)
            }
            #expect(stats.duplicateGenerations == 0)
            // Billed exactly once each.
            let billed = try await store.driver.read { session in
                try await session.query(
                    "SELECT COUNT(*) FROM usage_records WHERE request_id IN (SELECT 'job-' || id FROM jobs WHERE deployment = $1)",
                    [.text(deployment)])
            }
            #expect(billed.first?.first?.int == 500)
            let batchRequests = stats.externalRequests
            print(
                """
                replica dispatch: 500 jobs in \(elapsed) (replica 2 killed at \(killedAt)); batch requests \(batchRequests), \
                batch 429 \(stats.externalThrottled), replays after the kill \(stats.replays), online 429 \
                \(stats.backgroundThrottled)/\(stats.backgroundRequests)
                """)
        }
    }
}
