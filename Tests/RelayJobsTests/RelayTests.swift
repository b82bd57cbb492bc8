import AsyncHTTPClient
import Foundation
import GatewayModel
import GatewayRuntime
import NIOCore
import NIOHTTP1
import PTUSimulator
import RuntimeStorage
import Testing
import UsageAccounting

func fastSimulator() -> PTUSimulatorConfiguration {
    var configuration = PTUSimulatorConfiguration()
    configuration.tokensPerMinute = 10_000_000
    configuration.timeScale = 50
    return configuration
}

func usageRecord(database: String, requestId: String) async throws -> UsageRecord? {
    // The runtime under test owns the file; read it beside it without taking the lock.
    let store = try await SQLRuntimeStore.open(url: database, logger: .init(label: "test-reader"), exclusive: false)
    defer { Task { await store.close() } }
    return try await store.usageRecord(requestId: requestId)
}

@Suite(.serialized) struct RelayTests {
    /// Streaming without include_usage: the caller gets exactly the simulator's events minus what the
    /// relay added; usage comes from the (hidden) usage chunk and is billed once.
    @Test func streamIsForwardedUnchangedAndBilledFromUsageChunk() async throws {
        try await withSimulator(fastSimulator()) { simulator, simPort in
            try await withRuntime(configuration: try runtimeConfiguration(simulatorPort: simPort), tokenCounter: nil) { port, database in
                let requestId = "relay-stream-\(UUID().uuidString)"
                let result = try await send(
                    "http://127.0.0.1:\(port)/v1/relay/openai/deployments/\(ptuDeployment)/chat/completions?api-version=2024-10-21",
                    json: chatRequest(maxTokens: 30, stream: true),
                    headers: ["X-Tollgate-Request-Id": requestId, "X-Tollgate-Product": "team-a", "X-Tollgate-Subscription": "team-a-prod", "api-key": "caller-secret"])
                #expect(result.status == 200)
                #expect(result.headers["content-type"]?.hasPrefix("text/event-stream") == true)
                let backendId = try #require(result.headers["apim-request-id"])
                #expect(result.headers["azure-openai-deployment-utilization"] != nil)
                let log = try #require(simulator.log(requestId: backendId))
                #expect(log.includeUsage, "the relay asks the backend for usage")
                let received = dataPayloads(result.body)
                #expect(received == expectedWithoutUsage(log.events))
                #expect(!String(decoding: result.body, as: UTF8.self).contains(#""usage""#))
                var stored: UsageRecord?
                _ = try await eventually {
                    stored = try await usageRecord(database: database, requestId: requestId)
                    return stored != nil
                }
                let record = try #require(stored)
                #expect(record.usage.promptTokens == log.promptTokens)
                #expect(record.usage.completionTokens == log.completionTokensSent)
                #expect(record.streaming)
                let call = try await send(.GET, "http://127.0.0.1:\(port)/v1/relay/calls/\(requestId)", admin: true).json
                #expect(call?["accounting"] as? String == "usage")
                // Settlement went through the /v1/usage path: the same request id again is a duplicate.
                let again = try await send(
                    "http://127.0.0.1:\(port)/v1/usage",
                    json: ["requestId": requestId, "product": "team-a", "subscription": "team-a-prod", "model": "gpt-4o", "streaming": true,
                           "usage": ["promptTokens": 1, "completionTokens": 1, "cachedTokens": 0, "reasoningTokens": 0]])
                #expect(again.json?["duplicate"] as? Bool == true)
            }
        }
    }

    /// A caller that asked for usage sees the usage chunk and every `"usage":null`, byte for byte.
    @Test func streamWithIncludeUsageIsUntouched() async throws {
        try await withSimulator(fastSimulator()) { simulator, simPort in
            try await withRuntime(configuration: try runtimeConfiguration(simulatorPort: simPort), tokenCounter: nil) { port, _ in
                let result = try await send(
                    "http://127.0.0.1:\(port)/v1/relay/openai/deployments/\(ptuDeployment)/chat/completions?api-version=2024-10-21",
                    json: chatRequest(maxTokens: 20, stream: true, includeUsage: true),
                    headers: ["X-Tollgate-Product": "team-a"])
                let backendId = try #require(result.headers["apim-request-id"])
                let log = try #require(simulator.log(requestId: backendId))
                #expect(dataPayloads(result.body) == log.events)
            }
        }
    }

    /// Non-streaming calls through the relay: body unchanged, usage from the body.
    @Test func nonStreamingThroughRelay() async throws {
        try await withSimulator(fastSimulator()) { simulator, simPort in
            try await withRuntime(configuration: try runtimeConfiguration(simulatorPort: simPort), tokenCounter: nil) { port, database in
                let requestId = "relay-plain-\(UUID().uuidString)"
                let result = try await send(
                    "http://127.0.0.1:\(port)/v1/relay/openai/deployments/\(ptuDeployment)/chat/completions?api-version=2024-10-21",
                    json: chatRequest(maxTokens: 25), headers: ["X-Tollgate-Request-Id": requestId, "X-Tollgate-Product": "team-a"])
                #expect(result.status == 200)
                let usage = try #require(result.json?["usage"] as? [String: Any])
                var stored: UsageRecord?
                _ = try await eventually {
                    stored = try await usageRecord(database: database, requestId: requestId)
                    return stored != nil
                }
                let record = try #require(stored)
                #expect(record.usage.promptTokens == usage["prompt_tokens"] as? Int)
                #expect(record.usage.completionTokens == usage["completion_tokens"] as? Int)
                #expect(!record.streaming)
                _ = simulator
            }
        }
    }

    @Test func rejectsBadRelayCalls() async throws {
        try await withSimulator(fastSimulator()) { _, simPort in
            try await withRuntime(configuration: try runtimeConfiguration(simulatorPort: simPort), tokenCounter: nil) { port, _ async throws in
                let base = "http://127.0.0.1:\(port)/v1/relay/openai/deployments"
                var request = HTTPClientRequest(url: "\(base)/\(ptuDeployment)/chat/completions")
                request.method = .POST
                request.body = .bytes(ByteBuffer(string: "{}"))
                #expect(try await httpClient.execute(request, timeout: .seconds(10)).status.code == 401)
                #expect(try await send("\(base)/nope/chat/completions", json: chatRequest(), headers: ["X-Tollgate-Product": "team-a"]).status == 404)
                #expect(try await send("\(base)/\(ptuDeployment)/chat/completions", json: chatRequest()).status == 400)
                #expect(try await send("\(base)/\(ptuDeployment)/chat/completions", json: [1, 2], headers: ["X-Tollgate-Product": "team-a"]).status == 400)
            }
        }
    }

    /// Reads `events` content events of a relayed stream, then closes the connection.
    func readThenDisconnect(port: Int, requestId: String, events: Int) async throws -> (received: [String], backendId: String) {
        var request = HTTPClientRequest(
            url: "http://127.0.0.1:\(port)/v1/relay/openai/deployments/\(ptuDeployment)/chat/completions?api-version=2024-10-21")
        request.method = .POST
        request.headers.add(name: "X-Tollgate-Key", value: gatewayKey)
        request.headers.add(name: "X-Tollgate-Product", value: "team-a")
        request.headers.add(name: "X-Tollgate-Request-Id", value: requestId)
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: chatRequest(maxTokens: 200, stream: true))))
        // A separate client so closing it really closes the connection.
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        var received: [String] = []
        var backendId = ""
        do {
            let response = try await client.execute(request, timeout: .seconds(60))
            backendId = response.headers.first(name: "apim-request-id") ?? ""
            var splitter = SSEEventSplitter()
            var content = 0
            reading: for try await chunk in response.body {
                for event in splitter.push(chunk.readableBytesView) {
                    let data = SSEEvent(bytes: event).data ?? ""
                    received.append(data)
                    if data.contains("\"content\":\""), !data.contains("\"content\":\"\"") { content += 1 }
                    if content == events { break reading }
                }
            }
        }
        try await client.shutdown()
        return (received, backendId)
    }

    /// Client closes after N events: billed = what the backend generated before the relay stopped
    /// it (counted by the configured counter, since no usage chunk arrives).
    @Test func disconnectBillsTokensActuallySent() async throws {
        var configuration = PTUSimulatorConfiguration()
        configuration.tokensPerMinute = 10_000_000
        configuration.tokensPerSecond = 40  // real time: 200 tokens take 5 s
        try await withSimulator(configuration) { simulator, simPort in
            try await withRuntime(
                configuration: try runtimeConfiguration(simulatorPort: simPort), tokenCounter: SimulatorTokenCounter()
            ) { port, database in
                let requestId = "relay-cut-\(UUID().uuidString)"
                let (received, backendId) = try await readThenDisconnect(port: port, requestId: requestId, events: 10)
                #expect(received.count >= 10)
                var log: SimulatedRequestLog?
                let settled = try await eventually {
                    log = simulator.log(requestId: backendId)
                    return log?.disconnected == true
                }
                #expect(settled, "the backend stream was cut when the client left")
                let sent = try #require(log)
                #expect(sent.completionTokensSent < sent.completionTokensPlanned)
                var record: UsageRecord?
                _ = try await eventually {
                    record = try await usageRecord(database: database, requestId: requestId)
                    return record != nil
                }
                let billed = try #require(record)
                #expect(billed.usage.completionTokens == sent.completionTokensSent)
                #expect(sent.completionTokensWritten - sent.completionTokensSent <= 1)
                #expect(billed.usage.promptTokens == sent.promptTokens)
                #expect(billed.usage.completionTokens >= 10)
                let call = try await send(.GET, "http://127.0.0.1:\(port)/v1/relay/calls/\(requestId)", admin: true).json
                #expect(call?["accounting"] as? String == "tokenizer")
                #expect(call?["clientDisconnected"] as? Bool == true)
            }
        }
    }

    /// Without a counter and without a usage chunk the call is recorded as unknown; nothing is billed.
    @Test func disconnectWithoutCounterIsRecordedUnknown() async throws {
        var configuration = PTUSimulatorConfiguration()
        configuration.tokensPerMinute = 10_000_000
        configuration.tokensPerSecond = 40
        try await withSimulator(configuration) { simulator, simPort in
            try await withRuntime(configuration: try runtimeConfiguration(simulatorPort: simPort), tokenCounter: nil) { port, database in
                let requestId = "relay-unknown-\(UUID().uuidString)"
                _ = try await readThenDisconnect(port: port, requestId: requestId, events: 5)
                var call: [String: Any]?
                let recorded = try await eventually {
                    call = try await send(.GET, "http://127.0.0.1:\(port)/v1/relay/calls/\(requestId)", admin: true).json
                    return call != nil && call?["error"] == nil
                }
                #expect(recorded)
                #expect(call?["accounting"] as? String == "unknown")
                #expect(call?["promptTokens"] == nil)
                #expect(call?["completionTokens"] == nil)
                #expect(try await usageRecord(database: database, requestId: requestId) == nil)
                _ = simulator
            }
        }
    }

    /// The official `openai` Python SDK against the relay (streaming and not, usage on and off).
    @Test func openAIPythonSDK() async throws {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import openai"]
        check.standardError = FileHandle.nullDevice
        try check.run()
        check.waitUntilExit()
        guard check.terminationStatus == 0 else {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                Issue.record("the openai Python package is not installed (pip install openai)")
            }
            return
        }
        try await withSimulator(fastSimulator()) { _, simPort in
            try await withRuntime(configuration: try runtimeConfiguration(simulatorPort: simPort), tokenCounter: nil) { port, _ in
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = [
                    "python3", packageRoot.appendingPathComponent("Tests/RelayJobsTests/sdk_client.py").path,
                    "--runtime", "http://127.0.0.1:\(port)", "--simulator", "http://127.0.0.1:\(simPort)",
                    "--deployment", ptuDeployment, "--gateway-key", gatewayKey, "--admin-key", adminKey,
                ]
                let output = Pipe()
                process.standardOutput = output
                process.standardError = output
                try process.run()
                let data = await Task.detached { output.fileHandleForReading.readDataToEndOfFile() }.value
                process.waitUntilExit()
                let text = String(decoding: data, as: UTF8.self)
                #expect(process.terminationStatus == 0, "\(text)")
                #expect(text.contains("SDK checks passed"), "\(text)")
            }
        }
    }
}
