import AsyncHTTPClient
import Foundation
import GatewayModel
import Logging
import NIOCore
import RuntimeStorage
import ServiceLifecycle
import Synchronization
import UsageAccounting

/// Dispatches queued batch jobs to their provisioned deployments, as fast as the deployment's
/// ``ConcurrencyController`` allows. One per replica; replicas coordinate only through the job
/// leases in the shared database.
///
/// Exactly-once, as far as the job table goes: a job is taken with a lease (token + expiry, renewed
/// while its call runs); its outcome is written only under the same token, so a replica whose lease
/// lapsed cannot overwrite the new owner's result. A replica that dies leaves its leases to expire,
/// and the jobs are taken again. The backend call carries `Idempotency-Key: tollgate-job-<id>` (for
/// backends that deduplicate) and the usage is billed with request id `job-<id>`, so a retried job
/// is never billed twice.
struct JobDispatcher: Service {
    let service: AccountingService
    let store: any JobStore
    let client: HTTPClient
    let signals: PTUSignals
    let settings: RelaySettings
    /// Managed-identity tokens for batch calls (nil: `api-key` from the settings, if any).
    let identity: ManagedIdentityTokenProvider?
    let logger: Logging.Logger
    let backoff = RetryBackoff(base: 0.5, cap: 60)

    func run() async {
        let deployments = service.settings.configuration.deployments.filter {
            $0.targetUtilizationPercent != nil && signals.tracks($0.name)
        }
        guard settings.dispatchEnabled, !deployments.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        logger.info(
            "dispatcher started",
            metadata: ["replica": "\(settings.replicaId)", "deployments": "\(deployments.map(\.name).joined(separator: ","))"])
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for deployment in deployments {
                    group.addTask { await self.dispatchLoop(deployment) }
                }
            }
        }
    }

    static func nowMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    /// Leases held by this replica for one deployment.
    final class Leases: Sendable {
        let tokens = Mutex<Set<String>>([])
        var count: Int { tokens.withLock { $0.count } }
    }

    func dispatchLoop(_ deployment: RuntimeConfiguration.DeploymentConfiguration) async {
        let leases = Leases()
        let poll = Duration.milliseconds(settings.pollMillis)
        await withDiscardingTaskGroup { group in
            group.addTask { await self.renewLoop(leases) }
            while !Task.isCancelled {
                let permits = signals.update(deployment.name) { controller, now in
                    controller.allowed(inFlight: leases.count, now: now)
                } ?? 0
                var leased: [JobRecord] = []
                if permits > 0 {
                    do {
                        leased = try await store.leaseJobs(
                            deployment: deployment.name, owner: settings.replicaId, limit: permits,
                            leaseMillis: settings.leaseMillis, now: Self.nowMillis())
                    } catch {
                        logger.error("dispatcher: lease failed", metadata: ["error": "\(error)"])
                    }
                }
                for job in leased {
                    guard let token = job.leaseToken else { continue }
                    leases.tokens.withLock { _ = $0.insert(token) }
                    group.addTask {
                        await self.execute(job, token: token, deployment: deployment)
                        leases.tokens.withLock { _ = $0.remove(token) }
                    }
                }
                if leased.count < permits || permits == 0 {
                    do { try await Task.sleep(for: poll) } catch { break }
                }
            }
        }
    }

    func renewLoop(_ leases: Leases) async {
        let interval = Duration.milliseconds(max(50, settings.leaseMillis / 3))
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            let tokens = leases.tokens.withLock { Array($0) }
            guard !tokens.isEmpty else { continue }
            let now = Self.nowMillis()
            do {
                _ = try await store.renewLeases(tokens: tokens, until: now + settings.leaseMillis, now: now)
            } catch {
                logger.error("dispatcher: lease renewal failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// One backend call for a leased job, and what follows from its answer.
    func execute(_ job: JobRecord, token: String, deployment: RuntimeConfiguration.DeploymentConfiguration) async {
        var endpoint = deployment.endpoint
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        var request = HTTPClientRequest(
            url: "\(endpoint)/deployments/\(deployment.name)/chat/completions?api-version=\(settings.apiVersion)")
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "Idempotency-Key", value: "tollgate-job-\(job.id)")
        request.headers.add(name: "x-ms-client-request-id", value: job.id)
        if let key = settings.backendAPIKey { request.headers.add(name: "api-key", value: key) }
        request.body = .bytes(ByteBuffer(string: job.request))
        let attempts = job.attempts - job.throttles
        let started = ContinuousClock.now
        do {
            if let identity {
                let token = try await identity.token(resource: settings.backendTokenResource)
                request.headers.add(name: "Authorization", value: "Bearer \(token)")
            }
            let response = try await client.execute(request, timeout: .seconds(settings.relayTimeoutSeconds))
            let body = try await response.body.collect(upTo: 64 << 20)
            let status = Int(response.status.code)
            if status == 401 { identity?.invalidate(resource: settings.backendTokenResource) }
            let utilization = signals.utilization(from: response.headers.first(name: UtilizationHeader.name))
            let retryAfter = RetryAfter.seconds(
                retryAfterMs: response.headers.first(name: "retry-after-ms"), retryAfter: response.headers.first(name: "retry-after"))
            let outcome = JobOutcome.decide(
                status: status, attempts: attempts, maxAttempts: job.maxAttempts, retryAfter: retryAfter, backoff: backoff,
                random: Double.random(in: 0..<1))
            let text = String(decoding: body.readableBytesView, as: UTF8.self)
            switch outcome {
            case .succeed:
                let elapsed = ContinuousClock.now - started
                let latency = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                signals.update(deployment.name) { controller, now in
                    controller.succeeded(utilization: utilization, now: now, latency: latency)
                }
                await succeed(
                    job, token: token, status: status, body: body, text: text,
                    backendRequestId: response.headers.first(name: "apim-request-id") ?? response.headers.first(name: "x-request-id"))
            case .retry(let delay):
                if status == 429 {
                    signals.update(deployment.name) { controller, now in controller.throttled(retryAfter: retryAfter, now: now) }
                } else {
                    signals.update(deployment.name) { controller, now in controller.failed(now: now) }
                }
                await requeue(job, token: token, delay: delay, throttled: status == 429, error: "backend answered \(status)")
            case .fail(let reason):
                _ = try? await store.failJob(
                    id: job.id, leaseToken: token, resultStatus: status, result: text, error: reason, now: Self.nowMillis())
            }
        } catch is CancellationError {
            // Shutting down: hand the job back at once.
            await requeue(job, token: token, delay: 0, throttled: true, error: "replica shut down during the call")
        } catch {
            if Task.isCancelled {
                await requeue(job, token: token, delay: 0, throttled: true, error: "replica shut down during the call")
                return
            }
            signals.update(deployment.name) { controller, now in controller.failed(now: now) }
            switch JobOutcome.decide(
                status: nil, attempts: attempts, maxAttempts: job.maxAttempts, retryAfter: nil, backoff: backoff,
                random: Double.random(in: 0..<1))
            {
            case .retry(let delay):
                await requeue(job, token: token, delay: delay, throttled: false, error: "backend unreachable: \(error)")
            case .fail(let reason):
                _ = try? await store.failJob(
                    id: job.id, leaseToken: token, resultStatus: nil, result: nil, error: reason, now: Self.nowMillis())
            case .succeed:
                break
            }
        }
    }

    func requeue(_ job: JobRecord, token: String, delay: Double, throttled: Bool, error: String) async {
        let now = Self.nowMillis()
        do {
            _ = try await store.requeueJob(
                id: job.id, leaseToken: token, nextAttemptAt: now + Int64((delay * 1000).rounded()), throttled: throttled,
                error: error, now: now)
        } catch {
            logger.error("dispatcher: requeue failed", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
    }

    /// Bills the job (idempotently, request id `job-<id>`), then stores the result under the lease.
    /// Billing first: a crash between the two re-runs the job, and the second bill is a duplicate.
    func succeed(_ job: JobRecord, token: String, status: Int, body: ByteBuffer, text: String, backendRequestId: String?) async {
        var usage: TokenUsage?
        var cost: Nanos?
        if let value = try? JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView)) {
            usage = try? UsageExtractor.usage(from: value)
        }
        if let usage {
            cost = try? service.calculator.cost(of: usage, model: job.model, deployment: job.deployment)
            do {
                _ = try await service.usage(
                    UsageReport(
                        requestId: "job-\(job.id)", product: job.product, subscription: job.subscription, user: job.user,
                        api: "jobs", model: job.model, deployment: job.deployment, streaming: false, usage: usage))
            } catch {
                logger.error("dispatcher: settlement failed", metadata: ["job": "\(job.id)", "error": "\(error)"])
            }
        } else {
            logger.warning("dispatcher: backend answer has no usage; job not billed", metadata: ["job": "\(job.id)"])
        }
        do {
            let stored = try await store.completeJob(
                id: job.id, leaseToken: token, resultStatus: status, result: text, usage: usage, cost: cost,
                backendRequestId: backendRequestId, now: Self.nowMillis())
            if !stored {
                logger.notice("dispatcher: lease lost before completion; another replica owns the job", metadata: ["job": "\(job.id)"])
            }
        } catch {
            logger.error("dispatcher: cannot store result", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
    }
}

/// Shuts the shared backend client down when the application stops.
struct BackendClientLifecycle: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
