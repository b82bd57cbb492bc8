import Foundation
import GatewayModel
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing

/// A `tollgate-runtime` child process.
final class RuntimeProcess: @unchecked Sendable {
    let process = Process()
    let port: Int

    /// The built executable: `TOLLGATE_RUNTIME_BINARY`, else next to the test bundle.
    static func executable() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["TOLLGATE_RUNTIME_BINARY"] { return URL(fileURLWithPath: path) }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("tollgate-runtime")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        for configuration in ["debug", "release"] {
            let candidate = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/\(configuration)/tollgate-runtime")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw RuntimeProcessError.notBuilt
    }

    /// Starts a runtime on 127.0.0.1 with a free port and waits for its "listening" line.
    init(config: String, databaseURL: String) async throws {
        process.executableURL = try Self.executable()
        process.arguments = ["--config", config, "--host", "127.0.0.1", "--port", "0"]
        process.environment = [
            "TOLLGATE_DATABASE_URL": databaseURL, "TOLLGATE_GATEWAY_KEY": gatewayKey, "TOLLGATE_ADMIN_KEY": adminKey,
            "LOG_LEVEL": "warning", "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        let handle = output.fileHandleForReading
        // Read stdout on a plain thread (blocking reads), report the port, keep draining.
        let found: Int? = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var text = ""
                var reported = false
                while true {
                    let data = handle.availableData
                    if data.isEmpty { break }
                    if reported { continue }
                    text += String(decoding: data, as: UTF8.self)
                    if let range = text.range(of: "listening on 127.0.0.1:") {
                        let digits = text[range.upperBound...].prefix { $0.isNumber }
                        if text[range.upperBound...].dropFirst(digits.count).first != nil, let port = Int(digits) {
                            reported = true
                            continuation.resume(returning: port)
                        }
                    }
                }
                if !reported { continuation.resume(returning: nil) }
            }
        }
        guard let found else {
            process.terminate()
            throw RuntimeProcessError.didNotStart
        }
        port = found
    }

    /// SIGKILL: no chance to flush anything.
    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// Request indexes the runtime acknowledged, shared by the writer tasks.
final class Acknowledged: Sendable {
    let ids = Mutex<Set<Int>>([])
}

enum RuntimeProcessError: Error { case notBuilt, didNotStart }

/// A one-connection HTTP client to a runtime process.
func connect(_ port: Int) async throws -> TestClient {
    let client = TestClient(host: "127.0.0.1", port: port)
    client.connect()
    return client
}

func post(_ client: TestClient, _ path: String, _ body: String, admin: Bool = false) async throws -> Reply {
    var headers: HTTPFields = [.contentType: "application/json"]
    headers[HTTPField.Name(admin ? "X-Tollgate-Admin-Key" : "X-Tollgate-Key")!] = admin ? adminKey : gatewayKey
    let response = try await client.post(path, headers: headers, body: ByteBuffer(string: body))
    return Reply(status: response.status, headers: response.headers, text: response.body.map { String(buffer: $0) } ?? "")
}

func get(_ client: TestClient, _ path: String) async throws -> Reply {
    let response = try await client.get(path, headers: [HTTPField.Name("X-Tollgate-Admin-Key")!: adminKey])
    return Reply(status: response.status, headers: response.headers, text: response.body.map { String(buffer: $0) } ?? "")
}

/// A runtime-config.json with one product whose total budget is `budget`.
func writeConfig(in directory: URL, product: String, budget: String) throws -> String {
    let configuration = testConfiguration(products: [
        .init(
            id: product, displayName: product,
            budgets: [Budget(amount: Money(string: budget)!, period: .total, scope: .product, enforcement: .hard)],
            defaultEstimatedTokens: 1000, subscriptions: [])
    ])
    let path = directory.appendingPathComponent("runtime-config.json").path
    try JSONEncoder().encode(configuration).write(to: URL(fileURLWithPath: path))
    return path
}

/// 1000 completion tokens of gpt-4o cost exactly $0.01, the same as the reservation for an estimate
/// of 1000 tokens, so a budget of $0.50 fits exactly 50 requests.
func exactUsage(_ requestId: String, product: String) -> String {
    """
    {"requestId":"\(requestId)","product":"\(product)","subscription":"sub","model":"gpt-4o","streaming":false,"usage":{"promptTokens":0,"completionTokens":1000,"cachedTokens":0,"reasoningTokens":0}}
    """
}

@Suite("Runtime processes", .serialized) struct ProcessTests {
    /// 4 replicas on one PostgreSQL, 200 concurrent check+usage pairs, a budget that fits 50.
    @Test func replicasNeverOverspend() async throws {
        try await withTemporaryDirectory { directory in
            guard let url = Backend.postgres.databaseURL(directory: directory) else { return }
            let product = unique("replica")
            let config = try writeConfig(in: directory, product: product, budget: "0.50")
            var replicas: [RuntimeProcess] = []
            defer { replicas.forEach { $0.stop() } }
            for _ in 0..<4 { replicas.append(try await RuntimeProcess(config: config, databaseURL: url)) }
            let ports = replicas.map(\.port)

            struct Outcome: Sendable { var allowed: Bool; var billed: Bool; var duplicate: Bool }
            let outcomes = try await withThrowingTaskGroup(of: Outcome.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        let requestId = "\(product)-\(index)"
                        let checkClient = try await connect(ports[index % 4])
                        let usageClient = try await connect(ports[(index + 1) % 4])
                        defer { Task { try? await checkClient.shutdown(); try? await usageClient.shutdown() } }
                        let check = try await post(checkClient, "/v1/check", checkBody(requestId, product: product, tokens: 1000))
                        guard check.status == .ok, check.json["allowed"] as? Bool == true else {
                            return Outcome(allowed: false, billed: false, duplicate: false)
                        }
                        // Settled through another replica than the one that reserved.
                        let usage = try await post(usageClient, "/v1/usage", exactUsage(requestId, product: product))
                        return Outcome(
                            allowed: true, billed: usage.status == .ok, duplicate: usage.json["duplicate"] as? Bool ?? true)
                    }
                }
                return try await group.reduce(into: [Outcome]()) { $0.append($1) }
            }
            let allowed = outcomes.filter(\.allowed).count
            #expect(outcomes.filter(\.allowed).allSatisfy { $0.billed && !$0.duplicate })
            #expect(allowed == 50, "allowed \(allowed) of 200 with a budget for 50")

            let admin = try await connect(ports[0])
            let report = try await get(admin, "/v1/reports/chargeback?groupBy=product&format=json")
            let row = (report.json["rows"] as? [[String: Any]] ?? []).first { $0["product"] as? String == product }
            #expect(row?["requests"] as? Int == allowed)
            #expect(Decimal(string: row?["cost"] as? String ?? "x")! == Decimal(allowed) / 100)
            #expect(Decimal(string: row?["cost"] as? String ?? "x")! <= Decimal(string: "0.50")!)
            // Billed exactly once: every replay is a duplicate and the total does not move.
            var replays = 0
            for index in 0..<200 {
                let reply = try await post(admin, "/v1/usage", exactUsage("\(product)-\(index)", product: product))
                if reply.json["duplicate"] as? Bool == true { replays += 1 }
            }
            #expect(replays == allowed)
            print("replica test: 4 replicas, 200 pairs, allowed \(allowed), billed \(row?["requests"] ?? "?") records costing \(row?["cost"] ?? "?") of 0.50")
            try await admin.shutdown()
        }
    }

    /// SQLite keeps reservations in the memory of one process: a second runtime on the same file
    /// stops at start-up (exit 78) with a message naming the file and PostgreSQL; the first one
    /// keeps serving and exits 0 on SIGTERM.
    @Test func aSecondRuntimeOnTheSameSQLiteFileRefusesToStart() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("tollgate.db").path
            let product = unique("owner")
            let config = try writeConfig(in: directory, product: product, budget: "1.00")
            let first = try await RuntimeProcess(config: config, databaseURL: "sqlite:" + path)
            defer { first.stop() }
            let second = Process()
            second.executableURL = try RuntimeProcess.executable()
            second.arguments = ["--config", config, "--host", "127.0.0.1", "--port", "0"]
            second.environment = [
                "TOLLGATE_DATABASE_URL": "sqlite:" + path, "TOLLGATE_GATEWAY_KEY": gatewayKey, "TOLLGATE_ADMIN_KEY": adminKey,
                "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            ]
            let errors = Pipe()
            second.standardError = errors
            second.standardOutput = FileHandle.nullDevice
            try second.run()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            second.waitUntilExit()
            #expect(second.terminationStatus == 78)
            #expect(message.contains(path) && message.contains("PostgreSQL"), "\(message)")
            let client = try await connect(first.port)
            let check = try await post(client, "/v1/check", checkBody(unique("r"), product: product, tokens: 10))
            #expect(check.json["allowed"] as? Bool == true)
            try await client.shutdown()
            first.stop()
            #expect(first.process.terminationReason == .exit && first.process.terminationStatus == 0)
        }
    }

    /// kill -9 during ingest, restart: no acknowledged record missing, none doubled.
    @Test(arguments: Backend.allCases) func crashDuringIngest(_ backend: Backend) async throws {
        try await withTemporaryDirectory { directory in
            guard let url = backend.databaseURL(directory: directory) else { return }
            let product = unique("crash")
            let config = try writeConfig(in: directory, product: product, budget: "1000000.00")
            let runtime = try await RuntimeProcess(config: config, databaseURL: url)
            let port = runtime.port
            let acknowledged = Acknowledged()
            let total = 4000
            // 8 concurrent writers; the runtime is killed once 300 records were acknowledged.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        let client = try await connect(port)
                        var index = worker
                        while index < total {
                            guard let reply = try? await post(client, "/v1/usage", exactUsage("\(product)-\(index)", product: product)),
                                  reply.status == .ok
                            else { break }
                            _ = acknowledged.ids.withLock { $0.insert(index) }
                            index += 8
                        }
                        try? await client.shutdown()
                    }
                }
                group.addTask {
                    while acknowledged.ids.withLock({ $0.count }) < 300 { try await Task.sleep(for: .milliseconds(2)) }
                    runtime.kill9()
                }
                try await group.waitForAll()
            }
            let acked = acknowledged.ids.withLock { $0 }
            #expect(acked.count >= 300 && acked.count < total)

            let restarted = try await RuntimeProcess(config: config, databaseURL: url)
            defer { restarted.stop() }
            let client = try await connect(restarted.port)
            // Every acknowledged record is there: replaying it is a duplicate.
            var missing = 0
            for index in acked.sorted() {
                let reply = try await post(client, "/v1/usage", exactUsage("\(product)-\(index)", product: product))
                if reply.json["duplicate"] as? Bool != true { missing += 1 }
            }
            #expect(missing == 0, "\(missing) acknowledged records were lost")
            // APIM retries everything else; afterwards each request is billed exactly once.
            for index in 0..<400 where !acked.contains(index) {
                _ = try await post(client, "/v1/usage", exactUsage("\(product)-\(index)", product: product))
            }
            let report = try await get(client, "/v1/reports/chargeback?groupBy=product")
            let row = (report.json["rows"] as? [[String: Any]] ?? []).first { $0["product"] as? String == product }
            let requests = row?["requests"] as? Int ?? -1
            let expectedIds = acked.union(0..<400)
            // Records beyond the acknowledged ones may exist (committed, reply lost) but never twice.
            #expect(requests >= expectedIds.count)
            #expect(Decimal(string: row?["cost"] as? String ?? "x")! == Decimal(requests) / 100)
            print("crash test (\(backend)): \(acked.count) acknowledged before kill -9, \(missing) missing after restart, \(requests) records after retries for \(expectedIds.count) distinct ids")
            let highest = max(acked.max() ?? 0, 399)
            #expect(requests <= highest + 1 + 8)
            try await client.shutdown()
        }
    }
}
