// PTU benchmarks (issue 7), run in release:
//
//   swift run -c release ptu-bench dispatch [--minutes 8] [--scale 10] [--no-header]
//   swift run -c release ptu-bench relay [--requests 2000] [--concurrency 32]
//
// dispatch: one simulator per strategy with the same settings and seed (capacity 300,000 tokens per
// simulated minute, online traffic at 50%, target 80%, a backlog that outlasts the run). Tollgate's
// dispatcher (in-process runtime on SQLite) against the naive strategy (poll the 1-minute Azure
// Monitor figure, published 2 minutes late; when it is under the target, send every pending job; a
// 429 puts the job back). Reports capacity use = tokens served (online + batch) / capacity at target,
// batch 429s, online 429s and jobs per simulated minute, measured after a warm-up minute.
//
// relay: straight to the simulator vs through the relay, on loopback: sequential p50/p99 latency
// (non-streaming, and time to first byte of a stream) and requests per second with N concurrent
// clients.
import AsyncHTTPClient
import Foundation
import GatewayModel
import GatewayRuntime
import Logging
import NIOCore
import NIOHTTP1
import PTUSimulator
import Synchronization
import UsageAccounting

let gatewayKey = "bench-gateway-key-0123456789"
let adminKey = "bench-admin-key-0123456789ab"
let deploymentName = "gpt-4o-ptu"

var arguments = Array(CommandLine.arguments.dropFirst())
let mode = arguments.isEmpty ? "dispatch" : arguments.removeFirst()
@MainActor func option(_ name: String, _ fallback: Double) -> Double {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let value = Double(arguments[index + 1]) else {
        return fallback
    }
    return value
}
let useHeader = !arguments.contains("--no-header")

/// A value behind a lock that escaping closures can share.
final class Locked<Value: Sendable>: Sendable {
    let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }
}

func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0) }

let client: HTTPClient = {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 1024)
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}()

func configuration(simulatorPort: Int) throws -> RuntimeConfiguration {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("infrastructure/runtime-config.json")
    var configuration = try JSONDecoder().decode(RuntimeConfiguration.self, from: Data(contentsOf: path))
    configuration.deployments = configuration.deployments.map {
        var copy = $0
        copy.endpoint = "http://127.0.0.1:\(simulatorPort)/openai"
        if copy.name == deploymentName { copy.targetUtilizationPercent = 80 }
        return copy
    }
    return configuration
}

func startRuntime(simulatorPort: Int, directory: URL) async throws -> (port: Int, task: Task<Void, any Error>) {
    let settings = RuntimeSettings(
        host: "127.0.0.1", port: 0, databaseURL: "sqlite:" + directory.appendingPathComponent("bench.db").path,
        gatewayKey: gatewayKey, adminKey: adminKey, configuration: try configuration(simulatorPort: simulatorPort))
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let app = try await buildApplication(configuration: settings, logger: logger) { continuation.yield($0) }
    let task = Task { try await app.runService(gracefulShutdownSignals: []) }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else { throw CancellationError() }
    return (port, task)
}

func post(_ url: String, _ body: Data, headers: [(String, String)] = []) async throws -> (status: Int, headers: HTTPHeaders, body: ByteBuffer) {
    var request = HTTPClientRequest(url: url)
    request.method = .POST
    request.headers.add(name: "content-type", value: "application/json")
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    request.body = .bytes(ByteBuffer(data: body))
    let response = try await client.execute(request, timeout: .seconds(300))
    let collected = try await response.body.collect(upTo: 16 << 20)
    return (Int(response.status.code), response.headers, collected)
}

func jobRequest(_ index: Int) -> [String: Any] {
    [
        "messages": [
            ["role": "system", "content": "You summarise documents."],
            ["role": "user", "content": (0..<40).map { "w\($0)" }.joined(separator: " ") + " document \(index)"],
        ],
        "max_tokens": 200,
    ]
}

func simulatorConfiguration(scale: Double) -> PTUSimulatorConfiguration {
    var configuration = PTUSimulatorConfiguration()
    configuration.tokensPerMinute = 300_000
    configuration.timeScale = scale
    configuration.backgroundLoadPercent = 50
    configuration.sendUtilizationHeader = useHeader
    configuration.seed = 7
    return configuration
}

struct DispatchResult {
    var name: String
    var capacityUse: Double
    var batchUtilization: Double
    var batchRequests: Int
    var batch429: Int
    var online429: Int
    var onlineRequests: Int
    var jobsPerMinute: Double
}

func measure(_ name: String, simulator: PTUSimulator, minutes: Double, completed: @escaping @Sendable () async -> Int) async throws
    -> DispatchResult
{
    let scale = simulator.configuration.timeScale
    let warmUp = 60.0
    try await Task.sleep(for: .seconds(warmUp / scale))
    let before = simulator.stats()
    let jobsBefore = await completed()
    try await Task.sleep(for: .seconds(minutes * 60 / scale))
    let after = simulator.stats()
    let jobsAfter = await completed()
    let span = after.simulatedSeconds - before.simulatedSeconds
    let atTarget = simulator.configuration.tokensPerMinute / 60 * span * 0.8
    let served = Double(after.externalTokensServed - before.externalTokensServed + after.backgroundTokensServed - before.backgroundTokensServed)
    return DispatchResult(
        name: name, capacityUse: served / atTarget,
        batchUtilization: Double(after.externalTokensServed - before.externalTokensServed) / (simulator.configuration.tokensPerMinute / 60 * span),
        batchRequests: after.externalRequests - before.externalRequests,
        batch429: after.externalThrottled - before.externalThrottled, online429: after.backgroundThrottled - before.backgroundThrottled,
        onlineRequests: after.backgroundRequests - before.backgroundRequests,
        jobsPerMinute: Double(jobsAfter - jobsBefore) / (span / 60))
}

func runTollgate(minutes: Double, scale: Double) async throws -> DispatchResult {
    let simulator = PTUSimulator(configuration: simulatorConfiguration(scale: scale))
    let (simPort, simTask) = try await simulator.run()
    defer { simTask.cancel() }
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ptu-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    setenv("TOLLGATE_DISPATCH_DECREASE_COOLDOWN_MS", String(Int(1000 / scale)), 1)
    setenv("TOLLGATE_DISPATCH_HINT_MAX_AGE_MS", String(Int(5000 / scale)), 1)
    setenv("TOLLGATE_DISPATCH_HINT_SMOOTHING_MS", String(Int(1000 / scale)), 1)
    setenv("TOLLGATE_DISPATCH_POLL_MS", "10", 1)
    let (port, runtimeTask) = try await startRuntime(simulatorPort: simPort, directory: directory)
    defer { runtimeTask.cancel() }
    // Backlog: more than the run can serve (batch share ≈ 30% of capacity).
    let jobs = Int(300_000 * 0.3 / 215 * (minutes + 1) * 1.5)
    try await withThrowingTaskGroup(of: Void.self) { group in
        for index in 0..<jobs {
            group.addTask {
                let body = try JSONSerialization.data(withJSONObject: [
                    "deployment": deploymentName, "product": "team-a", "request": jobRequest(index),
                ])
                _ = try await post("http://127.0.0.1:\(port)/v1/jobs", body, headers: [("X-Tollgate-Key", gatewayKey)])
            }
            if index % 32 == 31 { try await group.next() }
        }
        try await group.waitForAll()
    }
    return try await measure("tollgate (AIMD\(useHeader ? " + header" : ", 429 only"))", simulator: simulator, minutes: minutes) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/jobs?deployment=\(deploymentName)&limit=1")
        request.headers.add(name: "X-Tollgate-Key", value: gatewayKey)
        guard let response = try? await client.execute(request, timeout: .seconds(30)),
            let body = try? await response.body.collect(upTo: 1 << 20),
            let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any],
            let counts = object["counts"] as? [String: Int]
        else { return 0 }
        return counts["succeeded"] ?? 0
    }
}

/// The seed's approach: poll the lagging 1-minute metric; under the threshold, send everything.
func runNaive(minutes: Double, scale: Double) async throws -> DispatchResult {
    let simulator = PTUSimulator(configuration: simulatorConfiguration(scale: scale))
    let (simPort, simTask) = try await simulator.run()
    defer { simTask.cancel() }
    let url = "http://127.0.0.1:\(simPort)/openai/deployments/\(deploymentName)/chat/completions?api-version=2024-10-21"
    let done = Locked(0)
    let pending = Locked(Array(0..<Int(300_000 * 0.3 / 215 * (minutes + 1) * 1.5)))
    let worker = Task {
        while !Task.isCancelled {
            // Poll the metric every simulated 30 s.
            var latest: Double?
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(simPort)/_sim/metrics")
            request.method = .GET
            if let response = try? await client.execute(request, timeout: .seconds(30)),
                let body = try? await response.body.collect(upTo: 1 << 20),
                let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any],
                let value = (object["value"] as? [[String: Any]])?.first,
                let series = (value["timeseries"] as? [[String: Any]])?.first,
                let data = series["data"] as? [[String: Any]], let last = data.last
            {
                latest = last["maximum"] as? Double
            }
            // The seed treated "no data" as 0% — go.
            if (latest ?? 0) < 80 {
                let batch = pending.withLock { list -> [Int] in
                    defer { list.removeAll() }
                    return list
                }
                for index in batch {
                    Task {
                        let body = (try? JSONSerialization.data(withJSONObject: jobRequest(index))) ?? Data()
                        let status = (try? await post(url, body))?.status ?? 0
                        if status == 200 {
                            done.withLock { $0 += 1 }
                        } else {
                            pending.withLock { $0.append(index) }
                        }
                    }
                }
            }
            try? await Task.sleep(for: .seconds(30 / scale))
        }
    }
    defer { worker.cancel() }
    return try await measure("naive (1-min metric, send all)", simulator: simulator, minutes: minutes) { done.withLock { $0 } }
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))]
}

func relayBenchmark(requests: Int, concurrency: Int) async throws {
    var simConfiguration = PTUSimulatorConfiguration()
    simConfiguration.tokensPerMinute = 1e12
    simConfiguration.timeToFirstToken = 0
    simConfiguration.tokensPerSecond = 1e9
    let simulator = PTUSimulator(configuration: simConfiguration)
    let (simPort, simTask) = try await simulator.run()
    defer { simTask.cancel() }
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("relay-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let (port, runtimeTask) = try await startRuntime(simulatorPort: simPort, directory: directory)
    defer { runtimeTask.cancel() }
    let path = "/deployments/\(deploymentName)/chat/completions?api-version=2024-10-21"
    let direct = "http://127.0.0.1:\(simPort)/openai\(path)"
    let relayed = "http://127.0.0.1:\(port)/v1/relay/openai\(path)"
    let headers = [("X-Tollgate-Key", gatewayKey), ("X-Tollgate-Product", "team-a"), ("api-key", "bench")]
    let plain = try JSONSerialization.data(withJSONObject: [
        "messages": [["role": "user", "content": "hello there"]], "max_tokens": 16,
    ])
    let streamed = try JSONSerialization.data(withJSONObject: [
        "messages": [["role": "user", "content": "hello there"]], "max_tokens": 16, "stream": true,
    ])

    func sequential(_ url: String, _ body: Data, firstByte: Bool) async throws -> [Double] {
        var samples: [Double] = []
        for index in 0..<(requests + 200) {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            request.body = .bytes(ByteBuffer(data: body))
            let start = ContinuousClock.now
            let response = try await client.execute(request, timeout: .seconds(30))
            var iterator = response.body.makeAsyncIterator()
            var first: Duration?
            while let chunk = try await iterator.next() {
                if first == nil, chunk.readableBytes > 0 { first = ContinuousClock.now - start }
            }
            let total = ContinuousClock.now - start
            let sample = firstByte ? (first ?? total) : total
            if index >= 200 { samples.append(Double(sample.components.attoseconds) / 1e12 + Double(sample.components.seconds) * 1e6) }
        }
        return samples
    }

    func throughput(_ url: String) async throws -> Double {
        let start = ContinuousClock.now
        let total = requests * 4
        let next = Locked(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while next.withLock({ value -> Bool in value += 1; return value <= total }) {
                        _ = try await post(url, plain, headers: headers)
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - start
        return Double(total) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    print("relay overhead (loopback, \(requests) sequential requests after 200 warm-up; µs)")
    for (name, body, firstByte) in [("non-streaming", plain, false), ("stream, time to first byte", streamed, true), ("stream, whole", streamed, false)] {
        let d = try await sequential(direct, body, firstByte: firstByte)
        let r = try await sequential(relayed, body, firstByte: firstByte)
        print("  " + pad(name, 28) + String(
            format: " direct p50 %7.0f p99 %7.0f | relay p50 %7.0f p99 %7.0f | added p50 %6.0f p99 %6.0f",
            percentile(d, 0.5), percentile(d, 0.99), percentile(r, 0.5), percentile(r, 0.99),
            percentile(r, 0.5) - percentile(d, 0.5), percentile(r, 0.99) - percentile(d, 0.99)))
    }
    let directRate = try await throughput(direct)
    let relayRate = try await throughput(relayed)
    print(String(format: "  non-streaming throughput, %d clients: direct %.0f req/s, relay %.0f req/s", concurrency, directRate, relayRate))
}

switch mode {
case "dispatch":
    let minutes = option("--minutes", 8)
    let scale = option("--scale", 10)
    print("dispatch benchmark: 300,000 tokens/min capacity, online 50%, target 80%, \(minutes) simulated minutes measured after 1 warm-up minute, time scale \(scale)×, utilization header \(useHeader ? "on" : "off")")
    for result in [try await runTollgate(minutes: minutes, scale: scale), try await runNaive(minutes: minutes, scale: scale)] {
        print("  " + pad(result.name, 34) + String(
            format: " capacity use %5.1f%% of target (batch %4.1f%% of capacity) | batch 429 %d of %d (%.2f%%) | online 429 %d of %d | %.0f jobs/min",
            result.capacityUse * 100, result.batchUtilization * 100, result.batch429, result.batchRequests,
            result.batchRequests == 0 ? 0 : Double(result.batch429) / Double(result.batchRequests) * 100, result.online429,
            result.onlineRequests, result.jobsPerMinute))
    }
case "relay":
    try await relayBenchmark(requests: Int(option("--requests", 2000)), concurrency: Int(option("--concurrency", 32)))
default:
    print("usage: ptu-bench dispatch [--minutes M] [--scale X] [--no-header] | relay [--requests N] [--concurrency C]")
}
exit(0)
