import Foundation
import GatewayModel
import HTTPTypes
public import Hummingbird
public import Logging
public import NIOCore
public import RuntimeStorage
import ServiceLifecycle
import UsageAccounting

/// The request context of the runtime's routes: Hummingbird's basic context plus the event loop
/// of the caller's connection, where the relay runs its backend call.
public struct RuntimeRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The caller's connection's event loop.
    public let eventLoop: any EventLoop

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        eventLoop = source.channel.eventLoop
    }
}

/// Opens the store named by the settings, migrates it and seeds the configured products.
public func openStore(settings: RuntimeSettings, logger: Logging.Logger) async throws -> SQLRuntimeStore {
    let store: SQLRuntimeStore
    do {
        store = try await SQLRuntimeStore.open(url: settings.databaseURL, logger: logger)
    } catch let error as StoreError {
        throw ConfigurationError("\(RuntimeSettings.Variable.databaseURL): \(error)")
    } catch let error as PostgresDriverError {
        throw ConfigurationError("\(RuntimeSettings.Variable.databaseURL): \(error)")
    } catch {
        throw ConfigurationError("cannot open the database \(redact(settings.databaseURL)): \(error)")
    }
    do {
        try await store.migrate()
        try await store.seed(products: settings.configuration.products.map(ProductDefinition.init))
    } catch {
        await store.close()
        throw ConfigurationError("cannot prepare the database \(redact(settings.databaseURL)): \(String(reflecting: error))")
    }
    return store
}

/// A database URL without its password, for messages.
func redact(_ url: String) -> String {
    guard var components = URLComponents(string: url), components.password != nil else { return url }
    components.password = "***"
    return components.string ?? url
}

/// Builds the runtime application in the style of the Hummingbird template: the router with every
/// route, the store (migrated and seeded), and the background services (reservation expiry).
///
/// - Parameters:
///   - configuration: settings from `RuntimeSettings.load`.
///   - logger: the application's logger.
///   - tokenCounter: counts tokens for relayed streams without usage (`TokenizerCounting` in
///     production); nil records such calls as unknown.
///   - relaySettings: relay and dispatcher settings; nil reads them from the environment
///     (`RelaySettings.load()`).
///   - onServerRunning: called with the bound port once the server listens.
public func buildApplication(
    configuration settings: RuntimeSettings,
    logger: Logging.Logger = Logging.Logger(label: "tollgate.runtime"),
    tokenCounter: (any TokenCounting)? = nil,
    relaySettings: RelaySettings? = nil,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    let store = try await openStore(settings: settings, logger: logger)
    let metrics = RuntimeMetrics()
    let service = AccountingService(store: store, settings: settings, metrics: metrics, logger: logger)
    let authenticator = try await Authenticator(settings: settings, logger: logger)
    let router = buildRouter(service: service, authenticator: authenticator, logRequests: settings.logRequests)
    // Streaming relay and PTU-gated batch jobs (issue 7): routes, dispatcher, backend client.
    let relayAndJobs = installRelayAndJobs(
        on: router, service: service, store: store, authenticator: authenticator, relaySettings: try relaySettings ?? RelaySettings.load(),
        tokenCounter: tokenCounter, logger: logger)
    var app = Application(
        router: router,
        configuration: ApplicationConfiguration(
            address: .hostname(settings.host, port: settings.port), serverName: "tollgate-runtime"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? settings.port) },
        logger: logger)
    app.addServices(StoreLifecycle(store: store, logger: logger))
    for extra in relayAndJobs.services { app.addServices(extra) }
    return app
}

/// Expires unsettled reservations every few seconds and closes the store on shutdown.
struct StoreLifecycle: Service {
    let store: any RuntimeStore
    let logger: Logging.Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: .seconds(5))
                } catch { break }
                do {
                    let released = try await store.expireReservations(now: Int64(Date().timeIntervalSince1970))
                    if released > 0 { logger.info("released expired reservations", metadata: ["count": "\(released)"]) }
                } catch {
                    logger.error("reservation expiry failed: \(error)")
                }
            }
        }
        await store.close()
    }
}

/// Records request counts and latencies per route template.
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: RuntimeMetrics
    let logRequests: Bool
    let logger: Logging.Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        var status = 500
        defer {
            let route = context.endpointPath ?? "unmatched"
            metrics.request(route: route, status: status, duration: ContinuousClock.now - start)
            if logRequests { logger.info("\(request.method) \(request.uri.path) \(status)") }
        }
        do {
            let response = try await next(request, context)
            status = response.status.code
            return response
        } catch let error as any HTTPResponseError {
            status = error.status.code
            throw error
        }
    }
}

let jsonEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return encoder
}()

let jsonHeaders: HTTPFields = [.contentType: "application/json; charset=utf-8"]

func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
    let data = try jsonEncoder.encode(value)
    return Response(status: status, headers: jsonHeaders, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
}

/// The `/v1/check` answer, written directly: the same bytes `json(_:)` produces (sorted keys,
/// `resetAt` left out when nil, strings escaped as `JSONEncoder` escapes them) without going through
/// `Encoder` on the hottest route.
func json(_ value: CheckResponse) -> Response {
    Response(status: .ok, headers: jsonHeaders, body: ResponseBody(byteBuffer: jsonBytes(value)))
}

func jsonBytes(_ value: CheckResponse) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.reserveCapacity(112)
    buffer.writeStaticString(value.allowed ? "{\"allowed\":true,\"reason\":" : "{\"allowed\":false,\"reason\":")
    writeJSONString(value.reason.rawValue, to: &buffer)
    buffer.writeStaticString(",\"remaining\":")
    writeJSONString(value.remaining, to: &buffer)
    if let resetAt = value.resetAt {
        buffer.writeStaticString(",\"resetAt\":")
        writeJSONString(resetAt, to: &buffer)
    }
    buffer.writeStaticString("}")
    return buffer
}

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

/// A JSON string literal, escaped like Foundation's `JSONEncoder` (which also escapes `/`).
func writeJSONString(_ text: String, to buffer: inout ByteBuffer) {
    buffer.writeInteger(UInt8(ascii: "\""))
    let hex = hexDigits
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
        case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
        case UInt8(ascii: "/"): buffer.writeStaticString("\\/")
        case 0x0A: buffer.writeStaticString("\\n")
        case 0x0D: buffer.writeStaticString("\\r")
        case 0x09: buffer.writeStaticString("\\t")
        case 0x08: buffer.writeStaticString("\\b")
        case 0x0C: buffer.writeStaticString("\\f")
        case 0..<0x20:
            buffer.writeStaticString("\\u00")
            buffer.writeInteger(hex[Int(byte >> 4)])
            buffer.writeInteger(hex[Int(byte & 0x0F)])
        default: buffer.writeInteger(byte)
        }
    }
    buffer.writeInteger(UInt8(ascii: "\""))
}

func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int = 1 << 20) async throws -> T {
    try decodeJSON(type, from: try await collectBody(of: request, limit: limit))
}

/// A `/v1/check` body: the direct reader for the usual shape, `JSONDecoder` for everything else.
func decodeCheck(from request: Request) async throws -> CheckRequest {
    let buffer = try await collectBody(of: request, limit: 1 << 20)
    if let parsed = CheckRequestParser.parse(buffer) { return parsed }
    return try decodeJSON(CheckRequest.self, from: buffer)
}

/// The whole request body, or 413 when it is larger than `limit` bytes.
nonisolated(nonsending) func collectBody(of request: Request, limit: Int) async throws -> ByteBuffer {
    do {
        return try await request.body.collect(upTo: limit)
    } catch {
        let size = limit % (1 << 20) == 0 ? "\(limit >> 20) MiB" : "\(limit) bytes"
        throw APIError(.contentTooLarge, "too_large", "request body is larger than \(size)")
    }
}

/// Decodes a JSON body; a 400 that says what is wrong when it does not fit `type`.
func decodeJSON<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
    do {
        return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
    } catch let error as DecodingError {
        throw APIError.invalid(describeDecoding(error))
    } catch {
        throw APIError.invalid("request body is not valid JSON")
    }
}

func describeDecoding(_ error: DecodingError) -> String {
    switch error {
    case .dataCorrupted(let context) where context.codingPath.isEmpty:
        return "request body is not valid JSON"
    default:
        return "invalid request body: " + RuntimeSettings.describe(error)
    }
}

/// All routes.
func buildRouter(service: AccountingService, authenticator: Authenticator, logRequests: Bool) -> Router<RuntimeRequestContext> {
    let router = Router(context: RuntimeRequestContext.self)
    router.add(middleware: MetricsMiddleware<RuntimeRequestContext>(metrics: service.metrics, logRequests: logRequests, logger: service.logger))

    @Sendable func authorize(_ request: Request, admin: Bool) async throws {
        switch await authenticator.authenticate(request.headers, needsAdmin: admin) {
        case .success: return
        case .failure(.unauthorized): throw APIError.unauthorized
        case .failure(.forbidden): throw APIError.forbidden
        }
    }

    // Open routes.
    router.get("/health") { _, _ in try json(["status": "ok"]) }
    router.get("/ready") { _, _ in
        do {
            try await service.store.ping()
            return try json(["status": "ready"])
        } catch {
            return try json(["status": "database unavailable"], status: .serviceUnavailable)
        }
    }
    router.get("/metrics") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: service.metrics.render())))
    }

    // Gateway routes.
    router.post("/v1/check") { request, _ in
        try await authorize(request, admin: false)
        return json(try await service.check(try await decodeCheck(from: request)))
    }
    router.post("/v1/usage") { request, _ in
        try await authorize(request, admin: false)
        return try json(try await service.usage(try await decode(UsageReport.self, from: request, limit: 8 << 20)))
    }
    router.post("/v1/usage:batch") { request, _ in
        try await authorize(request, admin: false)
        let batch = try await decode(UsageBatch.self, from: request, limit: 32 << 20)
        guard !batch.records.isEmpty, batch.records.count <= 1000 else {
            throw APIError.invalid("a batch holds 1 to 1000 records")
        }
        var prepared: [AccountingService.PreparedUsage] = []
        for (index, report) in batch.records.enumerated() {
            do { prepared.append(try await service.prepare(report)) } catch let error as APIError {
                throw APIError(error.status, error.code, "records[\(index)]: \(error.message)")
            }
        }
        // One transaction for the whole batch: it is billed completely or not at all.
        return try json(["results": try await service.settle(batch: prepared)])
    }
    router.post("/v1/alerts/azure-monitor") { request, _ in
        try await authorize(request, admin: false)
        let body = try await decode(JSONValue.self, from: request)
        let parsed: Result<BudgetAlert, AzureMonitorAlertParser.Rejection> = Result { () throws(AzureMonitorAlertParser.Rejection) in
            try AzureMonitorAlertParser.parse(body)
        }
        let alert: BudgetAlert
        switch parsed {
        case .success(let value): alert = value
        case .failure(let rejection): throw APIError(.badRequest, "invalid_alert", rejection.reason)
        }
        guard let product = try await service.product(forBudget: alert.budgetName) else {
            throw APIError(.badRequest, "unknown_budget", "no product matches budget \"\(alert.budgetName)\"")
        }
        let payload = String(decoding: try jsonEncoder.encode(body), as: UTF8.self)
        let isNew = try await service.store.recordAlert(
            id: alert.id, product: product.id, kind: alert.kind, payload: payload, at: Int64(Date().timeIntervalSince1970))
        var action = "recorded"
        if isNew, service.settings.alertAction == .block {
            let block = alert.condition.lowercased() != "resolved"
            _ = try await service.store.setBlocked(product: product.id, blocked: block)
            service.products.invalidate(product.id)
            action = block ? "blocked" : "unblocked"
        }
        return try json(AlertResponse(product: product.id, action: isNew ? action : "none", duplicate: !isNew))
    }

    // Admin routes.
    router.get("/v1/products") { request, _ in
        try await authorize(request, admin: true)
        return try json(["products": try await service.store.products()])
    }
    router.get("/v1/products/{id}") { request, context in
        try await authorize(request, admin: true)
        let id = try context.parameters.require("id")
        guard let product = try await service.store.product(id: id) else {
            throw APIError(.notFound, "unknown_product", "no product \"\(id)\"")
        }
        return try json(product)
    }
    router.post("/v1/products") { request, _ in
        try await authorize(request, admin: true)
        let product = try await decode(ProductDefinition.self, from: request)
        try AccountingService.validate(product)
        defer { service.products.invalidate(product.id) }
        guard try await service.store.createProduct(product) else {
            throw APIError(.conflict, "product_exists", "product \"\(product.id)\" exists; use PUT /v1/products/\(product.id)")
        }
        return try json(product, status: .created)
    }
    router.put("/v1/products/{id}") { request, context in
        try await authorize(request, admin: true)
        let id = try context.parameters.require("id")
        let product = try await decode(ProductDefinition.self, from: request)
        guard product.id == id else { throw APIError.invalid("the id in the body must match the path") }
        try AccountingService.validate(product)
        defer { service.products.invalidate(product.id) }
        guard try await service.store.updateProduct(product) else {
            throw APIError(.notFound, "unknown_product", "no product \"\(id)\"")
        }
        return try json(product)
    }
    router.get("/v1/reports/chargeback") { request, _ in
        try await authorize(request, admin: true)
        return try await chargebackReport(service: service, query: request.uri.queryParameters)
    }
    return router
}

/// Body of `/v1/usage:batch`: `{"records":[…]}` or a bare array of usage reports.
struct UsageBatch: Decodable {
    var records: [UsageReport]

    enum CodingKeys: String, CodingKey { case records }

    init(from decoder: any Decoder) throws {
        if let array = try? decoder.singleValueContainer().decode([UsageReport].self) {
            records = array
        } else {
            records = try decoder.container(keyedBy: CodingKeys.self).decode([UsageReport].self, forKey: .records)
        }
    }
}

struct AlertResponse: Encodable {
    var product: String
    var action: String
    var duplicate: Bool
}
