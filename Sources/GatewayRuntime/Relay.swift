import AsyncHTTPClient
import Foundation
import GatewayModel
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import RuntimeStorage
import UsageAccounting

/// The streaming relay: `POST /v1/relay/openai/…` forwards a call to the deployment's Azure OpenAI
/// endpoint and passes the answer back unchanged, event by event, while counting what it cost.
///
/// APIM sends `"stream": true` calls here (the compiler's routing policy) with `X-Tollgate-Key`,
/// `X-Tollgate-Request-Id`, `X-Tollgate-Product` and `X-Tollgate-Subscription`; the caller's
/// `Authorization` / `api-key` goes to the backend untouched and is never logged.
///
/// Accounting, in order: the backend's usage (the final usage chunk, which the relay asks for with
/// `stream_options.include_usage` and hides again when the caller had not asked); else the
/// configured ``TokenCounting`` (prompt from the request, completion from the text actually received);
/// else the call is recorded as `unknown` and nothing is billed. A client that disconnects, or a
/// backend that fails mid-stream, is billed for what the backend had generated up to then. Billing
/// goes through ``AccountingService/usage(_:now:)``, idempotent on the request id.
struct Relay: Sendable {
    let service: AccountingService
    let store: any JobStore
    let client: HTTPClient
    let signals: PTUSignals
    let counter: (any TokenCounting)?
    let settings: RelaySettings
    let logger: Logging.Logger
    let deployments: [String: RuntimeConfiguration.DeploymentConfiguration]

    /// Prefix of every relay route (`RuntimeContract.relayPath`).
    static let prefix = RuntimeContract.relayPath

    /// Request headers that are not passed to the backend.
    static let droppedRequestHeaders: Set<String> = [
        "host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
        "proxy-authorization", "proxy-connection", "accept-encoding", "expect",
    ]
    /// Response headers that are not passed back to the caller.
    static let droppedResponseHeaders: Set<String> = [
        "content-length", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
    ]

    init(
        service: AccountingService, store: any JobStore, client: HTTPClient, signals: PTUSignals,
        counter: (any TokenCounting)?, settings: RelaySettings, logger: Logging.Logger
    ) {
        self.service = service
        self.store = store
        self.client = client
        self.signals = signals
        self.counter = counter
        self.settings = settings
        self.logger = logger
        var map: [String: RuntimeConfiguration.DeploymentConfiguration] = [:]
        for deployment in service.settings.configuration.deployments { map[deployment.name] = deployment }
        deployments = map
    }

    /// The caller's identity for billing, from the headers APIM adds.
    struct Caller {
        var requestId: String
        var product: String
        var subscription: String
        var user: String?
    }

    static func caller(_ headers: HTTPFields) throws -> Caller {
        func header(_ name: String) -> String? {
            guard let field = HTTPField.Name(name), let value = headers[field]?.trimmingCharacters(in: .whitespaces),
                !value.isEmpty
            else { return nil }
            return value
        }
        guard let product = header("X-Tollgate-Product") else {
            throw APIError.invalid("X-Tollgate-Product is required on relayed calls")
        }
        let requestId = header("X-Tollgate-Request-Id") ?? "relay-\(UUID().uuidString.lowercased())"
        for (name, value) in [("X-Tollgate-Request-Id", requestId), ("X-Tollgate-Product", product)] where value.utf8.count > 256 {
            throw APIError.invalid("\(name) is longer than 256 bytes")
        }
        return Caller(
            requestId: requestId, product: product, subscription: header("X-Tollgate-Subscription") ?? "unknown",
            user: header("X-Tollgate-User"))
    }

    /// Handles one relayed call. `deploymentName` comes from the path (`/deployments/{name}/…`) or,
    /// for the v1 and Responses routes, from the body's `model`.
    func handle(_ request: Request, deploymentName pathDeployment: String?) async throws -> Response {
        let caller = try Self.caller(request.headers)
        let body: [UInt8]
        do {
            body = Array(try await request.body.collect(upTo: 16 << 20).readableBytesView)
        } catch {
            throw APIError(.contentTooLarge, "too_large", "request body is larger than 16 MiB")
        }
        guard let inspected = StreamOptions.inspect(body) else { throw APIError.invalid("request body is not a JSON object") }
        guard let name = pathDeployment ?? inspected.model else { throw APIError.invalid("no deployment in the path or model in the body") }
        guard let deployment = deployments[name] else {
            throw APIError(.notFound, "unknown_deployment", "no deployment \"\(name)\" in the runtime configuration")
        }
        let path = request.uri.path
        guard path.hasPrefix(Self.prefix) else { throw APIError(.notFound, "not_found", "no such relay route") }
        var endpoint = deployment.endpoint
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        var url = endpoint + String(path.dropFirst(Self.prefix.count))
        if let query = request.uri.query, !query.isEmpty { url += "?" + query }

        let isChat = path.hasSuffix("/chat/completions")
        let addUsage = inspected.stream && isChat && !inspected.includeUsage
        let upstreamBody = addUsage ? (StreamOptions.requestingUsage(body) ?? body) : body

        var upstream = HTTPClientRequest(url: url)
        upstream.method = .POST
        for field in request.headers {
            let lower = field.name.canonicalName
            if Self.droppedRequestHeaders.contains(lower) || lower.hasPrefix("x-tollgate-") { continue }
            upstream.headers.add(name: field.name.rawName, value: field.value)
        }
        upstream.body = .bytes(ByteBuffer(bytes: upstreamBody))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(upstream, timeout: .seconds(settings.relayTimeoutSeconds))
        } catch {
            logger.warning("relay: backend unreachable", metadata: ["deployment": "\(name)", "error": "\(error)"])
            throw APIError(.badGateway, "backend_unreachable", "the backend for deployment \"\(name)\" did not answer")
        }
        let status = Int(response.status.code)
        let utilization = signals.utilization(from: response.headers.first(name: UtilizationHeader.name))
        let retryAfter = RetryAfter.seconds(
            retryAfterMs: response.headers.first(name: "retry-after-ms"), retryAfter: response.headers.first(name: "retry-after"))
        signals.observeOnline(deployment: name, status: status, utilization: utilization, retryAfter: retryAfter)
        let backendRequestId = response.headers.first(name: "apim-request-id") ?? response.headers.first(name: "x-request-id")

        var headers = HTTPFields()
        for header in response.headers where !Self.droppedResponseHeaders.contains(header.name.lowercased()) {
            if let field = HTTPField.Name(header.name) { headers.append(HTTPField(name: field, value: header.value)) }
        }
        let isEventStream = response.headers.first(name: "content-type")?.lowercased().contains("text/event-stream") ?? false
        let context = CallContext(
            caller: caller, deployment: deployment, requestBody: body, model: deployment.model, status: status,
            backendRequestId: backendRequestId, streaming: inspected.stream)

        guard isEventStream else {
            let collected: ByteBuffer
            do {
                collected = try await response.body.collect(upTo: 64 << 20)
            } catch {
                throw APIError(.badGateway, "backend_error", "the backend's answer could not be read")
            }
            if (200..<300).contains(status) {
                // Read the usage and settle after the answer is on its way: neither the JSON decode
                // nor the database writes add latency to the call.
                let relay = self
                Task {
                    var usage: TokenUsage?
                    if let value = try? JSONDecoder().decode(JSONValue.self, from: Data(collected.readableBytesView)) {
                        usage = try? UsageExtractor.usage(from: value)
                    }
                    await relay.settle(context, usage: usage.map { (AccountingSource.usage, $0) }, events: 0, disconnected: false)
                }
            }
            return Response(status: .init(code: status), headers: headers, body: ResponseBody(byteBuffer: collected))
        }

        let relay = self
        return Response(
            status: .init(code: status), headers: headers,
            body: ResponseBody { writer in
                var accountant = StreamAccountant(hideUsage: addUsage)
                var splitter = SSEEventSplitter()
                var forwarded = 0
                var clientGone = false
                var backendFailed = false
                // A child task reads the backend; cancelling it (when the caller has gone) cancels the
                // backend request at once. Whatever it had already received is still counted.
                let (chunks, continuation) = AsyncStream<ByteBuffer>.makeStream()
                await withTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        do {
                            for try await chunk in response.body { continuation.yield(chunk) }
                            continuation.finish()
                            return false
                        } catch {
                            continuation.finish()
                            return !Task.isCancelled
                        }
                    }
                    for await chunk in chunks {
                        for event in splitter.push(chunk.readableBytesView) {
                            guard let bytes = accountant.process(event), !clientGone else { continue }
                            do {
                                try await writer.write(ByteBuffer(bytes: bytes))
                                forwarded += 1
                            } catch {
                                clientGone = true
                                group.cancelAll()
                            }
                        }
                    }
                    backendFailed = await group.next() ?? false
                }
                if !clientGone {
                    let rest = splitter.finish()
                    if !rest.isEmpty { try? await writer.write(ByteBuffer(bytes: rest)) }
                }
                if backendFailed {
                    relay.logger.warning("relay: backend stream failed", metadata: ["deployment": "\(name)"])
                }
                if !clientGone { try? await writer.finish(nil) }
                // Settle in its own task: the connection is free for the caller's next request at
                // once (HTTP/1.1 keep-alive serves it only after this closure returns).
                let finalAccountant = accountant
                let events = forwarded
                let disconnected = clientGone
                Task {
                    await relay.settle(
                        context, usage: relay.streamUsage(finalAccountant, context: context), events: events,
                        disconnected: disconnected)
                }
                // Nothing more can be written; let the server drop the connection.
                if clientGone { throw CancellationError() }
            })
    }

    /// What one relayed call was, for settlement.
    struct CallContext: Sendable {
        var caller: Caller
        var deployment: RuntimeConfiguration.DeploymentConfiguration
        var requestBody: [UInt8]
        var model: String
        var status: Int
        var backendRequestId: String?
        var streaming: Bool
    }

    /// Usage of a (possibly interrupted) stream: reported, else counted, else unknown (nil).
    func streamUsage(_ accountant: StreamAccountant, context: CallContext) -> (AccountingSource, TokenUsage)? {
        if let reported = accountant.reportedUsage {
            return (
                .usage,
                TokenUsage(
                    promptTokens: reported.prompt, completionTokens: reported.completion, cachedTokens: reported.cached,
                    reasoningTokens: reported.reasoning)
            )
        }
        guard let counter, let prompt = counter.promptTokens(requestBody: context.requestBody, model: context.model),
            let completion = counter.completionTokens(text: accountant.completionText, model: context.model)
        else { return nil }
        return (.tokenizer, TokenUsage(promptTokens: prompt, completionTokens: completion))
    }

    /// Records the call and, when its usage is known, bills it through the `/v1/usage` path.
    func settle(_ context: CallContext, usage: (AccountingSource, TokenUsage)?, events: Int, disconnected: Bool) async {
        let record = RelayCallRecord(
            requestId: context.caller.requestId, product: context.caller.product, deployment: context.deployment.name,
            streaming: context.streaming, backendStatus: context.status, accounting: usage?.0 ?? .unknown,
            promptTokens: usage?.1.promptTokens, completionTokens: usage?.1.completionTokens, eventsForwarded: events,
            clientDisconnected: disconnected, backendRequestId: context.backendRequestId,
            createdAt: Int64(Date().timeIntervalSince1970))
        do {
            try await store.recordRelayCall(record)
        } catch {
            logger.error("relay: cannot record call", metadata: ["requestId": "\(record.requestId)", "error": "\(error)"])
        }
        guard let (_, tokens) = usage else {
            logger.warning(
                "relay: usage unknown, nothing billed",
                metadata: ["requestId": "\(record.requestId)", "deployment": "\(record.deployment)"])
            return
        }
        do {
            _ = try await service.usage(
                UsageReport(
                    requestId: context.caller.requestId, product: context.caller.product,
                    subscription: context.caller.subscription, user: context.caller.user, api: "openai",
                    model: context.model, deployment: context.deployment.name, streaming: context.streaming, usage: tokens))
        } catch {
            logger.error("relay: settlement failed", metadata: ["requestId": "\(record.requestId)", "error": "\(error)"])
        }
    }
}

extension HTTPField.Name {
    /// Lower-cased name for comparisons.
    var canonicalName: String { rawName.lowercased() }
}
