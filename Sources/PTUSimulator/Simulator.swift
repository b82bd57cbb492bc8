import Foundation
import HTTPTypes
public import Hummingbird
import Logging
import ServiceLifecycle
import NIOCore
import Synchronization

/// What the simulator did for one external request (for tests: `GET /_sim/requests/{id}`).
public struct SimulatedRequestLog: Codable, Sendable, Equatable {
    public var requestId: String
    public var deployment: String
    public var status: Int
    public var streaming: Bool
    public var includeUsage: Bool
    public var promptTokens: Int
    /// Completion tokens delivered: generated and written while the connection was open (see
    /// `stream`: the last write a closed connection still accepts is not counted).
    public var completionTokensSent: Int
    /// Completion tokens whose write TCP accepted (at most one more than delivered).
    public var completionTokensWritten: Int
    /// Completion tokens the request would have produced had it run to the end.
    public var completionTokensPlanned: Int
    /// `data:` payloads written, in order (streams only).
    public var events: [String]
    /// The connection was closed before the end.
    public var disconnected: Bool
    /// Served from the idempotency cache (no new generation).
    public var replay: Bool
    public var idempotencyKey: String?
}

/// Counters of the simulator (`GET /_sim/stats`).
public struct SimulatorStats: Codable, Sendable, Equatable {
    public var externalRequests = 0
    public var externalSucceeded = 0
    public var externalThrottled = 0
    public var externalTokensServed = 0
    public var backgroundRequests = 0
    public var backgroundThrottled = 0
    public var backgroundTokensServed = 0
    public var replays = 0
    /// Idempotency keys that were generated more than once (should stay 0).
    public var duplicateGenerations = 0
    /// Distinct idempotency keys with a successful generation.
    public var distinctKeys = 0
    /// Simulated seconds since start.
    public var simulatedSeconds: Double = 0
    public var utilization: Double = 0
    /// Capacity in tokens per simulated minute.
    public var tokensPerMinute: Double = 0
}

/// A mock Azure OpenAI provisioned deployment on loopback: chat completions (streamed and not) with
/// a documented capacity model (``CapacityLedger``), the utilization header, 429 with
/// `retry-after-ms`, optional online background traffic, and an Azure Monitor-like lagging metric.
public final class PTUSimulator: Sendable {
    /// Settings in force.
    public let configuration: PTUSimulatorConfiguration
    let ledger: CapacityLedger
    let start = ContinuousClock.now

    struct Cached: Sendable {
        var status: Int
        var body: ByteBuffer
        var headers: [(String, String)]
    }

    struct State {
        var stats = SimulatorStats()
        var logs: [String: SimulatedRequestLog] = [:]
        var logOrder: [String] = []
        var generations: [String: Int] = [:]
        var inFlightKeys: [String: Task<Cached?, Never>] = [:]
        var cache: [String: Cached] = [:]
        var sequence = 0
        var random: SplitMix64
    }

    let state: Mutex<State>

    /// Creates a simulator (not yet listening).
    public init(configuration: PTUSimulatorConfiguration) {
        self.configuration = configuration
        ledger = CapacityLedger(tokensPerMinute: configuration.tokensPerMinute, windowSeconds: configuration.windowSeconds)
        state = Mutex(State(random: SplitMix64(seed: configuration.seed)))
    }

    /// Simulated seconds since the simulator was created.
    public func now() -> Double {
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return seconds * configuration.timeScale
    }

    func sleep(simulated seconds: Double) async throws {
        guard seconds > 0 else { return }
        try await Task.sleep(for: .seconds(seconds / configuration.timeScale))
    }

    /// Current counters.
    public func stats() -> SimulatorStats {
        var stats = state.withLock { $0.stats }
        stats.simulatedSeconds = now()
        stats.utilization = ledger.utilization(now: now())
        stats.tokensPerMinute = configuration.tokensPerMinute
        return stats
    }

    /// Generations per idempotency key.
    public func generations() -> [String: Int] { state.withLock { $0.generations } }

    /// The log of one request.
    public func log(requestId: String) -> SimulatedRequestLog? { state.withLock { $0.logs[requestId] } }

    func store(_ log: SimulatedRequestLog) {
        state.withLock { state in
            if state.logs[log.requestId] == nil { state.logOrder.append(log.requestId) }
            state.logs[log.requestId] = log
            if state.logOrder.count > 5000 {
                let old = state.logOrder.removeFirst()
                state.logs[old] = nil
            }
        }
    }

    // MARK: Server

    /// Builds the Hummingbird application on `host:port` (0 picks a free port).
    public func application(
        host: String = "127.0.0.1", port: Int = 0, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        router.post("/openai/deployments/{deployment}/chat/completions") { request, context in
            try await self.chatCompletions(request, deployment: try context.parameters.require("deployment"))
        }
        router.get("/_sim/stats") { _, _ in try Self.json(self.stats()) }
        router.get("/_sim/generations") { _, _ in try Self.json(self.generations()) }
        router.get("/_sim/requests/{id}") { _, context in
            guard let log = self.log(requestId: try context.parameters.require("id")) else {
                return Response(status: .notFound)
            }
            return try Self.json(log)
        }
        router.get("/_sim/metrics") { _, _ in try self.metricsResponse() }
        // The Metrics REST API path (`{resourceId}/providers/Microsoft.Insights/metrics`).
        router.get("/subscriptions/**") { _, _ in try self.metricsResponse() }
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "ptu-simulator"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: {
                var logger = Logger(label: "ptu-simulator")
                logger.logLevel = .critical
                return logger
            }())
    }

    /// Starts listening on loopback and the background traffic; returns the bound port. The server
    /// runs until the returned task is cancelled (which shuts it down gracefully).
    public func run(port: Int = 0) async throws -> (port: Int, task: Task<Void, any Error>) {
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let app = application(port: port) { port in continuation.yield(port) }
        var logger = Logger(label: "ptu-simulator")
        logger.logLevel = .critical
        let services = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let task = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await services.run() }
                if self.configuration.backgroundLoadPercent > 0 {
                    group.addTask { await self.backgroundTraffic() }
                }
                await withTaskCancellationHandler {
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                } onCancel: {
                    Task { await services.triggerGracefulShutdown() }
                }
                group.cancelAll()
                try await group.waitForAll()
            }
        }
        var iterator = stream.makeAsyncIterator()
        guard let bound = await iterator.next() else { throw CancellationError() }
        return (bound, task)
    }

    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    // MARK: Background traffic

    /// Poisson arrivals of fixed-size online requests at `backgroundLoadPercent` of capacity. They
    /// count against utilization like any request; a throttled one is dropped (an online user who
    /// got a 429).
    func backgroundTraffic() async {
        let size = Double(configuration.backgroundPromptTokens + configuration.backgroundCompletionTokens)
        let tokensPerSecond = configuration.tokensPerMinute / 60 * configuration.backgroundLoadPercent / 100
        let meanGap = size / tokensPerSecond
        while !Task.isCancelled {
            let unit = state.withLock { Double($0.random.next() >> 11) / Double(1 << 53) }
            let gap = -meanGap * Foundation.log(max(1e-12, 1 - unit))
            do { try await sleep(simulated: gap) } catch { return }
            let time = now()
            switch ledger.admit(estimate: size, now: time) {
            case .throttled:
                state.withLock {
                    $0.stats.backgroundRequests += 1
                    $0.stats.backgroundThrottled += 1
                }
            case .admitted(let id, _):
                state.withLock { $0.stats.backgroundRequests += 1 }
                let duration =
                    configuration.timeToFirstToken + Double(configuration.backgroundCompletionTokens) / configuration.tokensPerSecond
                Task {
                    try? await self.sleep(simulated: duration)
                    self.ledger.settle(id: id, actual: size, now: self.now())
                    self.state.withLock { $0.stats.backgroundTokensServed += Int(size) }
                }
            }
        }
    }

    // MARK: Metrics

    /// Azure Monitor-like answer: `AzureOpenAIProvisionedManagedUtilizationV2`, 1-minute grain,
    /// `maximum` aggregation, only minutes that ended `metricLagSeconds` ago. Timestamps are simulated
    /// minutes from 1970 (tests care about the values and the lag, not the calendar).
    func metricsResponse() throws -> Response {
        let points = ledger.publishedMinutes(now: now(), lag: configuration.metricLagSeconds)
        let formatter = ISO8601DateFormatter()
        let data: [[String: Any]] = points.map {
            ["timeStamp": formatter.string(from: Date(timeIntervalSince1970: Double($0.minute) * 60)), "maximum": $0.maximum]
        }
        let body: [String: Any] = [
            "interval": "PT1M",
            "value": [
                [
                    "name": ["value": "AzureOpenAIProvisionedManagedUtilizationV2"], "unit": "Percent",
                    "timeseries": [["data": data]],
                ]
            ],
        ]
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body))))
    }

    // MARK: Chat completions

    func utilizationHeader(_ value: Double) -> String { String(format: "%.1f%%", value) }

    func chatCompletions(_ request: Request, deployment: String) async throws -> Response {
        let body = try await request.body.collect(upTo: 16 << 20)
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any],
            object["messages"] is [Any]
        else {
            return Self.error(400, "invalid_request", "the body must be a chat-completions request with messages")
        }
        let requestId = UUID().uuidString.lowercased()
        let streaming = (object["stream"] as? Bool) ?? false
        let includeUsage = ((object["stream_options"] as? [String: Any])?["include_usage"] as? Bool) ?? false
        let prompt = SimulatedTokens.promptTokens(object)
        let maxTokens = (object["max_tokens"] as? Int) ?? (object["max_completion_tokens"] as? Int)
        let digest = stableHash(Array(body.readableBytesView))
        let fraction =
            configuration.completionFraction.lowerBound
            + (configuration.completionFraction.upperBound - configuration.completionFraction.lowerBound)
            * (Double(digest % 10_000) / 10_000)
        let limit = maxTokens ?? configuration.defaultMaxTokens
        let planned = max(1, Int((Double(limit) * fraction).rounded()))
        let seed = Int(digest % 1_000_003)
        let key = configuration.honorIdempotencyKey ? request.headers[HTTPField.Name("Idempotency-Key")!] : nil

        state.withLock { $0.stats.externalRequests += 1 }

        if let key, !streaming {
            // Replays: a finished generation is returned again; a running one is awaited.
            let existing: Task<Cached?, Never>? = state.withLock { state in
                if let cached = state.cache[key] {
                    return Task<Cached?, Never> { cached }
                }
                return state.inFlightKeys[key]
            }
            if let existing, let cached = await existing.value {
                state.withLock { $0.stats.replays += 1 }
                store(
                    SimulatedRequestLog(
                        requestId: requestId, deployment: deployment, status: cached.status, streaming: false,
                        includeUsage: false, promptTokens: prompt, completionTokensSent: 0, completionTokensWritten: 0, completionTokensPlanned: planned,
                        events: [], disconnected: false, replay: true, idempotencyKey: key))
                var headers = HTTPFields()
                for (name, value) in cached.headers { if let field = HTTPField.Name(name) { headers[field] = value } }
                headers[HTTPField.Name("x-sim-replay")!] = "true"
                return Response(status: .init(code: cached.status), headers: headers, body: ResponseBody(byteBuffer: cached.body))
            }
        }

        let time = now()
        let admission = ledger.admit(estimate: Double(prompt + limit), now: time)
        switch admission {
        case .throttled(let retryAfter, let utilization):
            state.withLock { $0.stats.externalThrottled += 1 }
            let realMs = Int((retryAfter / configuration.timeScale * 1000).rounded(.up))
            var response = Self.error(
                429, "429",
                "Requests to the ChatCompletions_Create Operation have exceeded the provisioned capacity. Please retry after \(realMs) ms.")
            response.headers[HTTPField.Name("retry-after-ms")!] = String(realMs)
            response.headers[HTTPField.Name("retry-after")!] = String(max(1, Int((Double(realMs) / 1000).rounded(.up))))
            if configuration.sendUtilizationHeader {
                response.headers[HTTPField.Name(UtilizationName.header)!] = utilizationHeader(utilization)
            }
            response.headers[HTTPField.Name("apim-request-id")!] = requestId
            store(
                SimulatedRequestLog(
                    requestId: requestId, deployment: deployment, status: 429, streaming: streaming, includeUsage: includeUsage,
                    promptTokens: prompt, completionTokensSent: 0, completionTokensWritten: 0, completionTokensPlanned: planned, events: [],
                    disconnected: false, replay: false, idempotencyKey: key))
            return response
        case .admitted(let admissionId, let utilization):
            var headers: HTTPFields = [
                HTTPField.Name("apim-request-id")!: requestId, HTTPField.Name("x-request-id")!: requestId,
                HTTPField.Name("x-ms-region")!: "Simulated",
            ]
            if configuration.sendUtilizationHeader {
                headers[HTTPField.Name(UtilizationName.header)!] = utilizationHeader(utilization)
            }
            let created = Int(Date().timeIntervalSince1970)
            let chunkId = "chatcmpl-sim\(requestId.prefix(8))"
            if streaming {
                headers[.contentType] = "text/event-stream; charset=utf-8"
                headers[.cacheControl] = "no-cache"
                return Response(
                    status: .ok, headers: headers,
                    body: ResponseBody { writer in
                        try await self.stream(
                            writer: &writer, requestId: requestId, deployment: deployment, chunkId: chunkId, created: created,
                            prompt: prompt, planned: planned, limit: limit, seed: seed, includeUsage: includeUsage,
                            admissionId: admissionId, key: key)
                    })
            }
            let responseHeaders = headers
            let generate: @Sendable () async -> Cached? = {
                do {
                    try await self.sleep(
                        simulated: self.configuration.timeToFirstToken + Double(planned) / self.configuration.tokensPerSecond)
                } catch { return nil }
                let text = (0..<planned).map { SimulatedTokens.token($0, seed: seed) }.joined()
                let finish = planned >= limit ? "length" : "stop"
                let payload: [String: Any] = [
                    "choices": [
                        [
                            "content_filter_results": [String: Any](), "finish_reason": finish, "index": 0, "logprobs": NSNull(),
                            "message": ["content": text, "refusal": NSNull(), "role": "assistant"],
                        ]
                    ],
                    "created": created, "id": chunkId, "model": self.configuration.model, "object": "chat.completion",
                    "prompt_filter_results": [["prompt_index": 0, "content_filter_results": [String: Any]()]],
                    "system_fingerprint": "fp_sim", "usage": Self.usage(prompt: prompt, completion: planned),
                ]
                let data = Array(SortedJSON.string(payload).utf8)
                self.ledger.settle(id: admissionId, actual: Double(prompt + planned), now: self.now())
                var cachedHeaders: [(String, String)] = [("content-type", "application/json")]
                for field in responseHeaders { cachedHeaders.append((field.name.rawName, field.value)) }
                return Cached(status: 200, body: ByteBuffer(bytes: data), headers: cachedHeaders)
            }
            let result: Cached?
            if let key {
                let task = Task { await generate() }
                state.withLock { $0.inFlightKeys[key] = task }
                result = await task.value
                state.withLock { state in
                    state.inFlightKeys[key] = nil
                    if let result { state.cache[key] = result }
                }
            } else {
                result = await generate()
            }
            guard let result else { return Response(status: .serviceUnavailable) }
            state.withLock { state in
                state.stats.externalSucceeded += 1
                state.stats.externalTokensServed += prompt + planned
                if let key {
                    state.generations[key, default: 0] += 1
                    if state.generations[key] == 2 { state.stats.duplicateGenerations += 1 }
                    state.stats.distinctKeys = state.generations.count
                }
            }
            store(
                SimulatedRequestLog(
                    requestId: requestId, deployment: deployment, status: 200, streaming: false, includeUsage: false,
                    promptTokens: prompt, completionTokensSent: planned, completionTokensWritten: planned, completionTokensPlanned: planned, events: [],
                    disconnected: false, replay: false, idempotencyKey: key))
            var finalHeaders = headers
            finalHeaders[.contentType] = "application/json"
            return Response(status: .ok, headers: finalHeaders, body: ResponseBody(byteBuffer: result.body))
        }
    }

    static func usage(prompt: Int, completion: Int) -> [String: Any] {
        [
            "completion_tokens": completion, "completion_tokens_details": ["reasoning_tokens": 0],
            "prompt_tokens": prompt, "prompt_tokens_details": ["cached_tokens": 0], "total_tokens": prompt + completion,
        ]
    }

    static func error(_ status: Int, _ code: String, _ message: String) -> Response {
        let payload: [String: Any] = ["error": ["code": code, "message": message]]
        let data = (try? JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])) ?? Data()
        return Response(
            status: .init(code: status), headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Streams Azure-shaped chunks: a prompt-filter chunk, a role chunk, one chunk per token, a
    /// finish chunk, the usage chunk when asked for, and `[DONE]`. With `include_usage` every chunk
    /// carries `"usage":null`, as the service does.
    func stream(
        writer: inout any ResponseBodyWriter, requestId: String, deployment: String, chunkId: String, created: Int,
        prompt: Int, planned: Int, limit: Int, seed: Int, includeUsage: Bool, admissionId: Int, key: String?
    ) async throws {
        var events: [String] = []
        // A write "succeeds" once TCP accepted it. After the peer closed, TCP still accepts one more
        // write (the peer's RST comes back to it) and fails the next one; so a token counts as
        // delivered only when a later write (or the end of the stream) also succeeded.
        var written = 0
        var disconnected = false
        func chunk(_ choices: [[String: Any]], usage: Any?) -> String {
            var object: [String: Any] = [
                "choices": choices, "created": created, "id": chunkId, "model": configuration.model,
                "object": "chat.completion.chunk", "system_fingerprint": "fp_sim",
            ]
            if includeUsage { object["usage"] = usage ?? NSNull() }
            return SortedJSON.string(object)
        }
        func choice(_ delta: [String: Any], finish: String?) -> [[String: Any]] {
            [["content_filter_results": [String: Any](), "delta": delta, "finish_reason": finish.map { $0 as Any } ?? NSNull(), "index": 0, "logprobs": NSNull()]]
        }
        var payloads: [String] = []
        payloads.append(
            #"{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"content_filter_results":{},"prompt_index":0}]}"#)
        payloads.append(chunk(choice(["content": "", "role": "assistant"], finish: nil), usage: nil))
        let tokenDelay = 1 / configuration.tokensPerSecond
        do {
            try await sleep(simulated: configuration.timeToFirstToken)
            for payload in payloads {
                try await writer.write(ByteBuffer(string: "data: \(payload)\n\n"))
                events.append(payload)
            }
            var pending = 0.0
            for index in 0..<planned {
                pending += tokenDelay
                if pending / configuration.timeScale >= 0.001 {
                    try await sleep(simulated: pending)
                    pending = 0
                }
                let payload = chunk(choice(["content": SimulatedTokens.token(index, seed: seed)], finish: nil), usage: nil)
                try await writer.write(ByteBuffer(string: "data: \(payload)\n\n"))
                written += 1
                events.append(payload)
            }
            var tail = [chunk(choice([:], finish: planned >= limit ? "length" : "stop"), usage: nil)]
            if includeUsage { tail.append(chunk([], usage: Self.usage(prompt: prompt, completion: planned))) }
            tail.append("[DONE]")
            for payload in tail {
                try await writer.write(ByteBuffer(string: "data: \(payload)\n\n"))
                events.append(payload)
            }
            try await writer.finish(nil)
        } catch {
            disconnected = true
        }
        let sent = disconnected ? max(0, written - 1) : written
        ledger.settle(id: admissionId, actual: Double(prompt + sent), now: now())
        state.withLock { state in
            if !disconnected { state.stats.externalSucceeded += 1 }
            state.stats.externalTokensServed += prompt + sent
        }
        store(
            SimulatedRequestLog(
                requestId: requestId, deployment: deployment, status: 200, streaming: true, includeUsage: includeUsage,
                promptTokens: prompt, completionTokensSent: sent, completionTokensWritten: written,
                completionTokensPlanned: planned, events: events,
                disconnected: disconnected, replay: false, idempotencyKey: key))
    }
}

/// Header names shared with the runtime (kept here so the simulator has no runtime dependency).
enum UtilizationName {
    static let header = "azure-openai-deployment-utilization"
}

/// FNV-1a over bytes: stable across runs (Swift's `Hasher` is seeded per process).
func stableHash(_ bytes: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01B3
    }
    return hash
}
