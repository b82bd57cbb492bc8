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
    let writer: SettlementWriter
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
        service: AccountingService, writer: SettlementWriter, client: HTTPClient, signals: PTUSignals,
        counter: (any TokenCounting)?, settings: RelaySettings, logger: Logging.Logger
    ) {
        self.service = service
        self.writer = writer
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
            guard let field = HTTPField.Name(name), let value = headers[field]?.trimmingHTTPSpace(),
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

    /// Handles one relayed call, isolated to `loop` (the caller's connection's event loop).
    /// `deploymentName` comes from the path (`/deployments/{name}/…`) or, for the v1 and Responses
    /// routes, from the body's `model`.
    func handle(_ request: Request, deploymentName pathDeployment: String?, on loop: isolated EventLoopBound) async throws
        -> Response
    {
        let eventLoop = loop.eventLoop
        let caller = try Self.caller(request.headers)
        let body = Array(try await collectBody(of: request, limit: 16 << 20).readableBytesView)
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

        var upstreamHeaders = HTTPHeaders()
        for field in request.headers {
            let lower = field.name.canonicalName
            if Self.droppedRequestHeaders.contains(lower) || lower.hasPrefix("x-tollgate-") { continue }
            upstreamHeaders.add(name: field.name.rawName, value: field.value)
        }
        let exchange: BackendExchange
        let head: HTTPResponseHead
        do {
            let upstream = try HTTPClient.Request(
                url: url, method: .POST, headers: upstreamHeaders, body: .byteBuffer(ByteBuffer(bytes: upstreamBody)))
            exchange = BackendExchange.start(
                client: client, request: upstream, eventLoop: eventLoop,
                deadline: .now() + .seconds(settings.relayTimeoutSeconds))
            head = try await exchange.head()
        } catch {
            logger.warning("relay: backend unreachable", metadata: ["deployment": "\(name)", "error": "\(error)"])
            throw APIError(.badGateway, "backend_unreachable", "the backend for deployment \"\(name)\" did not answer")
        }
        let status = Int(head.status.code)
        let utilization = signals.utilization(from: head.headers.first(name: UtilizationHeader.name))
        let retryAfter = RetryAfter.seconds(
            retryAfterMs: head.headers.first(name: "retry-after-ms"), retryAfter: head.headers.first(name: "retry-after"))
        signals.observeOnline(deployment: name, status: status, utilization: utilization, retryAfter: retryAfter)
        let backendRequestId = head.headers.first(name: "apim-request-id") ?? head.headers.first(name: "x-request-id")

        var headers = HTTPFields()
        for header in head.headers where !Self.droppedResponseHeaders.contains(header.name.lowercased()) {
            if let field = HTTPField.Name(header.name) { headers.append(HTTPField(name: field, value: header.value)) }
        }
        let isEventStream = head.headers.first(name: "content-type")?.lowercased().contains("text/event-stream") ?? false
        let context = CallContext(
            caller: caller, deployment: deployment, requestBody: body, model: deployment.model, status: status,
            backendRequestId: backendRequestId, streaming: inspected.stream)

        guard isEventStream else {
            let collected: ByteBuffer
            do {
                collected = try await exchange.collect(upTo: 64 << 20)
            } catch {
                throw APIError(.badGateway, "backend_error", "the backend's answer could not be read")
            }
            if (200..<300).contains(status) {
                // Read the usage and settle after the answer is on its way: neither the usage scan
                // nor the database writes add latency to the call.
                let relay = self
                Task {
                    let usage = UsageExtractor.usage(fromResponseBytes: Array(collected.readableBytesView))
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
                // Events that arrived together go out in one write: nothing waits for a later part,
                // and a burst of small events costs one write instead of one each.
                var pending = ByteBuffer()
                while true {
                    let parts: [ByteBuffer]?
                    do {
                        parts = try await exchange.next()
                    } catch {
                        backendFailed = true
                        break
                    }
                    guard let parts else { break }
                    var events = 0
                    for part in parts {
                        for event in splitter.push(part.readableBytesView) {
                            guard let bytes = accountant.process(event) else { continue }
                            pending.writeBytes(bytes)
                            events += 1
                        }
                    }
                    guard pending.readableBytes > 0 else { continue }
                    do {
                        try await writer.write(pending)
                        forwarded += events
                        pending.clear()
                    } catch {
                        // The caller has gone: stop the backend call. What it had sent is counted.
                        clientGone = true
                        exchange.cancel()
                        break
                    }
                }
                if clientGone {
                    // Count what the backend had already delivered, without forwarding it.
                    while let parts = try? await exchange.next() {
                        for part in parts {
                            for event in splitter.push(part.readableBytesView) { _ = accountant.process(event) }
                        }
                    }
                } else {
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
        if let reported = accountant.reportedUsage { return (.usage, reported) }
        guard let counter, let prompt = counter.promptTokens(requestBody: context.requestBody, model: context.model),
            let completion = counter.completionTokens(text: accountant.completionText, model: context.model)
        else { return nil }
        return (.tokenizer, TokenUsage(promptTokens: prompt, completionTokens: completion))
    }

    /// Records the call and, when its usage is known, bills it through the `/v1/usage` rules (priced
    /// and validated here, written in a batch by the ``SettlementWriter``).
    func settle(_ context: CallContext, usage: (AccountingSource, TokenUsage)?, events: Int, disconnected: Bool) async {
        let record = RelayCallRecord(
            requestId: context.caller.requestId, product: context.caller.product, deployment: context.deployment.name,
            streaming: context.streaming, backendStatus: context.status, accounting: usage?.0 ?? .unknown,
            promptTokens: usage?.1.promptTokens, completionTokens: usage?.1.completionTokens, eventsForwarded: events,
            clientDisconnected: disconnected, backendRequestId: context.backendRequestId,
            createdAt: Int64(Date().timeIntervalSince1970))
        guard let (_, tokens) = usage else {
            logger.warning(
                "relay: usage unknown, nothing billed",
                metadata: ["requestId": "\(record.requestId)", "deployment": "\(record.deployment)"])
            writer.submit(call: record, usage: nil)
            return
        }
        var prepared: AccountingService.PreparedUsage?
        do {
            prepared = try await service.prepare(
                UsageReport(
                    requestId: context.caller.requestId, product: context.caller.product,
                    subscription: context.caller.subscription, user: context.caller.user, api: "openai",
                    model: context.model, deployment: context.deployment.name, streaming: context.streaming, usage: tokens))
        } catch {
            logger.error("relay: settlement failed", metadata: ["requestId": "\(record.requestId)", "error": "\(error)"])
        }
        writer.submit(call: record, usage: prepared)
    }
}

extension HTTPField.Name {
    /// Lower-cased name for comparisons.
    var canonicalName: String { rawName.lowercased() }
}
