import AsyncHTTPClient
import Foundation
import GatewayModel
import HTTPTypes
public import Hummingbird
public import Logging
import NIOCore
public import RuntimeStorage
public import ServiceLifecycle
public import UsageAccounting

/// `GET /v1/jobs/{id}` and list entries.
struct JobView: Encodable {
    var id: String
    var status: String
    var deployment: String
    var product: String
    var subscription: String
    var idempotencyKey: String?
    var priority: Int
    var notAfter: String?
    var attempts: Int
    var throttles: Int
    var maxAttempts: Int
    var createdAt: String
    var completedAt: String?
    var resultStatus: Int?
    var result: JSONValue?
    var usage: TokenUsage?
    var cost: String?
    var error: String?
    var backendRequestId: String?

    init(_ job: JobRecord, includeResult: Bool = true) {
        func iso(_ millis: Int64) -> String { Date(timeIntervalSince1970: Double(millis) / 1000).formatted(.iso8601) }
        id = job.id
        status = job.status.rawValue
        deployment = job.deployment
        product = job.product
        subscription = job.subscription
        idempotencyKey = job.idempotencyKey
        priority = job.priority
        notAfter = job.notAfter.map(iso)
        attempts = job.attempts
        throttles = job.throttles
        maxAttempts = job.maxAttempts
        createdAt = iso(job.createdAt)
        completedAt = job.completedAt.map(iso)
        resultStatus = job.resultStatus
        if includeResult, let text = job.result {
            result = (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .string(text)
        }
        usage = job.usage
        cost = job.cost?.formatted()
        error = job.error
        backendRequestId = job.backendRequestId
    }
}

/// The relay's and dispatcher's pieces, wired into an application by ``installRelayAndJobs``.
public struct RelayAndJobs: Sendable {
    /// Live PTU signals (tests and the dashboard read them).
    public let signals: PTUSignals
    /// Background services to add to the application (dispatcher, client shutdown).
    public let services: [any Service]
}

/// Adds the relay (`/v1/relay/openai/…`) and batch job (`/v1/jobs…`) routes to `router` and returns
/// the services that must run with the application: the dispatcher and the HTTP client's shutdown.
///
/// - Parameters:
///   - tokenCounter: counts tokens when a stream carries no usage; nil records such calls as unknown.
public func installRelayAndJobs(
    on router: Router<RuntimeRequestContext>, service: AccountingService, store: some RuntimeStore & JobStore,
    authenticator: Authenticator, relaySettings: RelaySettings, tokenCounter: (any TokenCounting)?, logger: Logging.Logger
) -> RelayAndJobs {
    let client = makeBackendClient()
    let configuration = service.settings.configuration
    let signals = PTUSignals(deployments: configuration.deployments, settings: relaySettings)
    let writer = SettlementWriter(
        service: service, store: store, delay: .milliseconds(relaySettings.settlementDelayMillis), logger: logger)
    let relay = Relay(
        service: service, writer: writer, client: client, signals: signals, counter: tokenCounter, settings: relaySettings,
        logger: logger)

    @Sendable func authorize(_ request: Request, admin: Bool) async throws {
        switch await authenticator.authenticate(request.headers, needsAdmin: admin) {
        case .success: return
        case .failure(.unauthorized): throw APIError.unauthorized
        case .failure(.forbidden): throw APIError.forbidden
        }
    }

    // Relay.
    let prefix = RuntimeContract.relayPath
    router.post(RouterPath("\(prefix)/deployments/{deployment}/chat/completions")) { request, context in
        try await authorize(request, admin: false)
        return try await relay.handle(
            request, deploymentName: try context.parameters.require("deployment"), on: EventLoopBound.actor(for: context.eventLoop))
    }
    router.post(RouterPath("\(prefix)/deployments/{deployment}/completions")) { request, context in
        try await authorize(request, admin: false)
        return try await relay.handle(
            request, deploymentName: try context.parameters.require("deployment"), on: EventLoopBound.actor(for: context.eventLoop))
    }
    for path in ["\(prefix)/responses", "\(prefix)/v1/responses", "\(prefix)/v1/chat/completions"] {
        router.post(RouterPath(path)) { request, context in
            try await authorize(request, admin: false)
            return try await relay.handle(request, deploymentName: nil, on: EventLoopBound.actor(for: context.eventLoop))
        }
    }
    router.get("/v1/relay/calls/{requestId}") { request, context in
        try await authorize(request, admin: true)
        let id = try context.parameters.require("requestId")
        guard let call = try await store.relayCall(requestId: id) else {
            throw APIError(.notFound, "unknown_call", "no relayed call \"\(id)\"")
        }
        return try json(call)
    }

    // Jobs.
    router.post("/v1/jobs") { request, _ in
        try await authorize(request, admin: false)
        let buffer = try await collectBody(of: request, limit: 8 << 20)
        let job = try await newJob(
            body: Data(buffer.readableBytesView), headers: request.headers, service: service, settings: relaySettings)
        let (stored, created) = try await store.enqueue(job, now: JobDispatcher.nowMillis())
        return try json(JobView(stored), status: created ? .accepted : .ok)
    }
    router.get("/v1/jobs/{id}") { request, context in
        try await authorize(request, admin: false)
        let id = try context.parameters.require("id")
        guard let job = try await store.job(id: id) else { throw APIError(.notFound, "unknown_job", "no job \"\(id)\"") }
        return try json(JobView(job))
    }
    router.get("/v1/jobs") { request, _ in
        try await authorize(request, admin: false)
        let query = request.uri.queryParameters
        var status: JobStatus?
        if let text = query["status"] {
            guard let parsed = JobStatus(rawValue: String(text)) else {
                throw APIError.invalid("status must be one of \(JobStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            status = parsed
        }
        var limit = 100
        if let text = query["limit"] {
            guard let parsed = Int(String(text)), (1...1000).contains(parsed) else {
                throw APIError.invalid("limit must be 1…1000")
            }
            limit = parsed
        }
        let jobs = try await store.jobs(status: status, deployment: query["deployment"].map(String.init), limit: limit)
        let counts = try await store.jobCounts(deployment: query["deployment"].map(String.init))
        var countsByName: [String: Int] = [:]
        for status in JobStatus.allCases { countsByName[status.rawValue] = counts[status] ?? 0 }
        return try json(JobList(jobs: jobs.map { JobView($0, includeResult: false) }, counts: countsByName))
    }
    router.delete("/v1/jobs/{id}") { request, context in
        try await authorize(request, admin: false)
        let id = try context.parameters.require("id")
        guard let job = try await store.cancelJob(id: id, now: JobDispatcher.nowMillis()) else {
            throw APIError(.notFound, "unknown_job", "no job \"\(id)\"")
        }
        guard job.status == .cancelled else {
            throw APIError(.conflict, "not_cancellable", "job \"\(id)\" is \(job.status.rawValue); only queued jobs can be cancelled")
        }
        return try json(JobView(job))
    }

    let identity =
        relaySettings.needsManagedIdentity
        ? ManagedIdentityTokenProvider(
            endpoint: relaySettings.managedIdentityEndpoint, clientId: relaySettings.managedIdentityClientId, client: client)
        : nil
    let dispatcher = JobDispatcher(
        service: service, store: store, client: client, signals: signals, settings: relaySettings,
        identity: relaySettings.backendManagedIdentity ? identity : nil, logger: logger)
    // Shut down in reverse order: the writer last, so it writes what the others settled.
    var services: [any Service] = [writer, dispatcher]
    if let monitor = relaySettings.azureMonitor {
        let provisioned = configuration.deployments.filter {
            $0.targetUtilizationPercent != nil && monitor.resourceId(for: $0.name) != nil
        }.map(\.name)
        if !provisioned.isEmpty {
            logger.info(
                "coarse gate: polling Azure Monitor",
                metadata: ["deployments": "\(provisioned.joined(separator: ","))", "interval_s": "\(monitor.interval)"])
            services.append(
                AzureMonitorPoller(
                    settings: monitor, deployments: provisioned, signals: signals, client: client, identity: identity, logger: logger))
        }
    }
    services.append(BackendClientLifecycle(client: client))
    return RelayAndJobs(signals: signals, services: services)
}

struct JobList: Encodable {
    var jobs: [JobView]
    var counts: [String: Int]
}

/// Validates a `POST /v1/jobs` body:
/// `{"deployment","request":{chat-completions body},"priority"?,"notAfter"?,"idempotencyKey"?,
///   "product"?,"subscription"?,"user"?,"maxAttempts"?}`; product and subscription may instead come
/// from `X-Tollgate-Product` / `X-Tollgate-Subscription`, the key from `Idempotency-Key`.
func newJob(body: Data, headers: HTTPFields, service: AccountingService, settings: RelaySettings) async throws -> NewJob {
    guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
        throw APIError.invalid("request body is not a JSON object")
    }
    func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { headers[$0] }.flatMap { $0.isEmpty ? nil : $0 }
    }
    func string(_ key: String) throws -> String? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let text = value as? String, !text.isEmpty, text.utf8.count <= 256 else {
            throw APIError.invalid("\(key) must be a non-empty string of at most 256 bytes")
        }
        return text
    }
    guard let deploymentName = try string("deployment") else { throw APIError.invalid("deployment is required") }
    guard let deployment = service.settings.configuration.deployments.first(where: { $0.name == deploymentName }) else {
        throw APIError(.notFound, "unknown_deployment", "no deployment \"\(deploymentName)\" in the runtime configuration")
    }
    guard deployment.targetUtilizationPercent != nil else {
        throw APIError.invalid("deployment \"\(deploymentName)\" is not a provisioned deployment with a target utilization")
    }
    guard let requestObject = object["request"] as? [String: Any], requestObject["messages"] is [Any] else {
        throw APIError.invalid("request must be a chat-completions request object with messages")
    }
    if (requestObject["stream"] as? Bool) == true { throw APIError.invalid("batch jobs cannot stream; remove \"stream\": true") }
    guard let product = try string("product") ?? header("X-Tollgate-Product") else {
        throw APIError.invalid("product is required (in the body or X-Tollgate-Product)")
    }
    guard try await service.store.product(id: product) != nil else {
        throw APIError(.notFound, "unknown_product", "no product \"\(product)\"")
    }
    let subscription = try string("subscription") ?? header("X-Tollgate-Subscription") ?? "batch"
    let key = try string("idempotencyKey") ?? header("Idempotency-Key")
    var priority = 0
    if let value = object["priority"], !(value is NSNull) {
        guard let number = value as? Int, (-1000...1000).contains(number) else {
            throw APIError.invalid("priority must be an integer in -1000…1000")
        }
        priority = number
    }
    var notAfter: Int64?
    if let value = object["notAfter"], !(value is NSNull) {
        guard let text = value as? String, let date = try? Date(text, strategy: .iso8601) else {
            throw APIError.invalid("notAfter must be an ISO-8601 date-time such as 2026-12-01T00:00:00Z")
        }
        notAfter = Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
    var maxAttempts = settings.maxAttempts
    if let value = object["maxAttempts"], !(value is NSNull) {
        guard let number = value as? Int, (1...100).contains(number) else { throw APIError.invalid("maxAttempts must be 1…100") }
        maxAttempts = number
    }
    let requestData = try JSONSerialization.data(withJSONObject: requestObject, options: [.sortedKeys])
    return NewJob(
        id: "job_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""), idempotencyKey: key,
        product: product, subscription: subscription, user: try string("user"), deployment: deployment.name,
        model: deployment.model, request: String(decoding: requestData, as: UTF8.self), priority: priority,
        notAfter: notAfter, maxAttempts: maxAttempts)
}
