import AsyncHTTPClient
import Foundation
import GatewayModel
import GatewayRuntime
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import PTUSimulator
import RuntimeStorage
import Testing
import UsageAccounting

let gatewayKey = "gw-relay-test-key-0123456789"
let adminKey = "admin-relay-test-key-0123456789"
let ptuDeployment = "gpt-4o-ptu"

/// Package root (for the example configuration, the Python client and the built executables).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The example runtime configuration with every deployment pointed at the simulator; `ptuName`
/// renames the provisioned deployment (so runtimes of other tests sharing a database never lease
/// this test's jobs).
func runtimeConfiguration(simulatorPort: Int, target: Int = 80, ptuName: String = ptuDeployment) throws -> RuntimeConfiguration {
    let data = try Data(contentsOf: packageRoot.appendingPathComponent("infrastructure/runtime-config.json"))
    var configuration = try JSONDecoder().decode(RuntimeConfiguration.self, from: data)
    configuration.deployments = configuration.deployments.map { deployment in
        var copy = deployment
        copy.endpoint = "http://127.0.0.1:\(simulatorPort)/openai"
        if copy.name == ptuDeployment {
            copy.targetUtilizationPercent = target
            copy.name = ptuName
        }
        return copy
    }
    return configuration
}

/// The simulator's word rules as the relay's token counter (what the real tokenizer does for Azure).
struct SimulatorTokenCounter: TokenCounting {
    func promptTokens(requestBody: [UInt8], model: String) -> Int? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(requestBody))) as? [String: Any] else { return nil }
        return SimulatedTokens.promptTokens(object)
    }

    func completionTokens(text: String, model: String) -> Int? { SimulatedTokens.count(text) }
}

/// A simulator running on loopback for the duration of `body`.
func withSimulator<T>(
    _ configuration: PTUSimulatorConfiguration, _ body: (PTUSimulator, Int) async throws -> T
) async throws -> T {
    let simulator = PTUSimulator(configuration: configuration)
    let (port, task) = try await simulator.run()
    defer { task.cancel() }
    return try await body(simulator, port)
}

/// A runtime built in-process on a fresh SQLite file, for the duration of `body`.
func withRuntime<T>(
    configuration: RuntimeConfiguration, tokenCounter: (any TokenCounting)?, databaseURL: String? = nil,
    relaySettings: RelaySettings? = nil, _ body: (Int, String) async throws -> T
) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-relay-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let database = databaseURL ?? "sqlite:" + directory.appendingPathComponent("tollgate.db").path
    let settings = RuntimeSettings(
        host: "127.0.0.1", port: 0, databaseURL: database, gatewayKey: gatewayKey, adminKey: adminKey,
        configuration: configuration)
    var logger = Logger(label: "relay-test")
    logger.logLevel = .warning
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let app = try await buildApplication(
        configuration: settings, logger: logger, tokenCounter: tokenCounter, relaySettings: relaySettings
    ) { port in
        continuation.yield(port)
    }
    let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
    let task = Task { try await group.run() }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else { throw CancellationError() }
    do {
        let result = try await body(port, database)
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        return result
    } catch {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        throw error
    }
}

let httpClient: HTTPClient = {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}()

struct HTTPResult {
    var status: Int
    var headers: [String: String]
    var body: Data
    var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] }
}

/// A POST with the gateway (or admin) key.
func send(_ url: String, json: Any? = nil, headers: [String: String] = [:], admin: Bool = false) async throws -> HTTPResult {
    try await send(.POST, url, json: json, headers: headers, admin: admin)
}

/// One request with the gateway (or admin) key.
func send(
    _ method: HTTPMethod, _ url: String, json: Any? = nil, headers: [String: String] = [:], admin: Bool = false
) async throws -> HTTPResult {
    var request = HTTPClientRequest(url: url)
    request.method = method
    request.headers.add(name: admin ? "X-Tollgate-Admin-Key" : "X-Tollgate-Key", value: admin ? adminKey : gatewayKey)
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let json {
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
    }
    let response = try await httpClient.execute(request, timeout: .seconds(120))
    let body = try await response.body.collect(upTo: 64 << 20)
    var map: [String: String] = [:]
    for header in response.headers { map[header.name.lowercased()] = header.value }
    return HTTPResult(status: Int(response.status.code), headers: map, body: Data(body.readableBytesView))
}

func chatRequest(words: Int = 12, maxTokens: Int = 40, stream: Bool = false, includeUsage: Bool? = nil, salt: String = "") -> [String: Any] {
    var request: [String: Any] = [
        "messages": [
            ["role": "system", "content": "You are a terse assistant."],
            ["role": "user", "content": (0..<words).map { "word\($0)" }.joined(separator: " ") + " " + salt],
        ],
        "max_tokens": maxTokens,
    ]
    if stream { request["stream"] = true }
    if let includeUsage { request["stream_options"] = ["include_usage": includeUsage] }
    return request
}

/// The simulator's events as the caller should see them when the relay added `include_usage`:
/// no usage chunk, no `"usage":null` member.
func expectedWithoutUsage(_ events: [String]) -> [String] {
    events.compactMap { payload in
        guard payload != "[DONE]",
            let object = (try? JSONSerialization.jsonObject(with: Data(payload.utf8))) as? [String: Any]
        else { return payload }
        if object["usage"] is [String: Any], (object["choices"] as? [Any])?.isEmpty ?? false { return nil }
        return payload.replacingOccurrences(of: #","usage":null}"#, with: "}")
    }
}

/// `data:` payloads of a raw SSE body.
func dataPayloads(_ body: Data) -> [String] {
    String(decoding: body, as: UTF8.self).components(separatedBy: "\n\n").compactMap { event in
        let lines = event.split(separator: "\n").filter { $0.hasPrefix("data: ") }
        guard !lines.isEmpty else { return nil }
        return lines.map { String($0.dropFirst(6)) }.joined(separator: "\n")
    }
}

/// Polls `condition` every 50 ms for up to `seconds`.
func eventually(seconds: Double = 10, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

/// PostgreSQL for the multi-replica tests: nil (skipped) locally without it, a failure under CI=true.
func postgresURL() -> String? {
    if let url = ProcessInfo.processInfo.environment["TOLLGATE_TEST_POSTGRES_URL"], !url.isEmpty {
        // scripts/start-postgres.sh prints an `export …=` line; accept that form too.
        if let range = url.range(of: "TOLLGATE_TEST_POSTGRES_URL=") { return String(url[range.upperBound...]) }
        return url
    }
    if ProcessInfo.processInfo.environment["CI"] == "true" {
        Issue.record("TOLLGATE_TEST_POSTGRES_URL is not set; CI must start PostgreSQL (scripts/start-postgres.sh)")
    }
    return nil
}
