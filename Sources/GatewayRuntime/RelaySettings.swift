import AsyncHTTPClient
import Foundation
public import GatewayModel
import NIOCore
import Synchronization
public import UsageAccounting

/// Settings of the relay and the batch dispatcher, read from the environment (issue 7).
///
/// | variable | default | meaning |
/// |---|---|---|
/// | `TOLLGATE_DISPATCH` | `on` | `off` disables the batch dispatcher on this replica (jobs are still accepted) |
/// | `TOLLGATE_REPLICA_ID` | host-pid | lease owner name |
/// | `TOLLGATE_DISPATCH_LEASE_MS` | 30000 | lease length; renewed every third of it while a call runs |
/// | `TOLLGATE_DISPATCH_POLL_MS` | 100 | how often an idle dispatcher looks for due jobs |
/// | `TOLLGATE_DISPATCH_MAX_CONCURRENCY` | 64 | upper bound of the AIMD limit per deployment |
/// | `TOLLGATE_DISPATCH_INITIAL_CONCURRENCY` | 2 | starting limit |
/// | `TOLLGATE_DISPATCH_MAX_ATTEMPTS` | 5 | attempts per job that were not throttled |
/// | `TOLLGATE_DISPATCH_USE_UTILIZATION_HEADER` | `on` | `off`: ignore `azure-openai-deployment-utilization` |
/// | `TOLLGATE_DISPATCH_DECREASE_COOLDOWN_MS` | 1000 | minimum time between two decreases |
/// | `TOLLGATE_DISPATCH_HINT_MAX_AGE_MS` | 5000 | a utilization reading older than this is unknown |
/// | `TOLLGATE_DISPATCH_HINT_SMOOTHING_MS` | 1000 | time constant of the average of utilization readings (≈ one round trip) |
/// | `TOLLGATE_BACKEND_API_KEY` | — | `api-key` the dispatcher sends to Azure OpenAI (the relay passes the caller's) |
/// | `TOLLGATE_BACKEND_MANAGED_IDENTITY` | `off` | `on`: batch calls carry `Authorization: Bearer` with a managed-identity token instead (not together with the key) |
/// | `TOLLGATE_BACKEND_TOKEN_RESOURCE` | `https://cognitiveservices.azure.com` | resource (audience) of that token |
/// | `TOLLGATE_MANAGED_IDENTITY_CLIENT_ID` | `AZURE_CLIENT_ID` | client id of a user-assigned identity (neither set: system-assigned) |
/// | `TOLLGATE_AZURE_OPENAI_API_VERSION` | `2024-10-21` | `api-version` of batch calls |
/// | `TOLLGATE_RELAY_TIMEOUT_S` | 600 | longest relayed call |
/// | `TOLLGATE_RELAY_SETTLE_DELAY_MS` | 20 | how long relayed calls' settlements gather before one batch writes them (0: write at once) |
public struct RelaySettings: Sendable {
    public var dispatchEnabled = true
    public var replicaId: String
    public var leaseMillis: Int64 = 30_000
    public var pollMillis: Int64 = 100
    public var maxConcurrency: Double = 64
    public var initialConcurrency: Double = 2
    public var maxAttempts = 5
    public var useUtilizationHeader = true
    public var decreaseCooldownMillis: Int64 = 1000
    public var hintMaxAgeMillis: Int64 = 5000
    public var hintSmoothingMillis: Int64 = 1000
    public var backendAPIKey: String?
    /// Batch calls authenticate with a managed-identity token for ``backendTokenResource``.
    public var backendManagedIdentity = false
    public var backendTokenResource = "https://cognitiveservices.azure.com"
    /// User-assigned identity (nil: system-assigned).
    public var managedIdentityClientId: String?
    /// Where managed-identity tokens come from (App Service style or IMDS, from the environment).
    public var managedIdentityEndpoint: ManagedIdentityEndpoint = .imds()
    public var apiVersion = "2024-10-21"
    public var relayTimeoutSeconds: Int64 = 600
    /// Gathering time of a settlement batch (``SettlementWriter``).
    public var settlementDelayMillis: Int64 = 20
    /// The optional Azure Monitor coarse gate (`TOLLGATE_PTU_METRICS_*`).
    var azureMonitor: AzureMonitorSettings?

    /// Whether anything needs managed-identity tokens (batch calls, or the Metrics API without a static token).
    var needsManagedIdentity: Bool {
        backendManagedIdentity || (azureMonitor != nil && azureMonitor?.staticToken == nil)
    }

    /// Defaults with a replica id made of the host name and process id.
    public init() {
        replicaId = "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// Reads the variables above; a malformed value is a ``ConfigurationError``.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RelaySettings {
        var settings = RelaySettings()
        func value(_ name: String) -> String? {
            guard let raw = environment[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }
        func flag(_ name: String) throws -> Bool? {
            guard let text = value(name)?.lowercased() else { return nil }
            switch text {
            case "1", "on", "true", "yes": return true
            case "0", "off", "false", "no": return false
            default: throw ConfigurationError("\(name) must be on or off, got \"\(text)\"")
            }
        }
        func integer(_ name: String, _ range: ClosedRange<Int64>) throws -> Int64? {
            guard let text = value(name) else { return nil }
            guard let number = Int64(text), range.contains(number) else {
                throw ConfigurationError("\(name) must be a whole number in \(range.lowerBound)…\(range.upperBound), got \"\(text)\"")
            }
            return number
        }
        if let enabled = try flag("TOLLGATE_DISPATCH") { settings.dispatchEnabled = enabled }
        if let id = value("TOLLGATE_REPLICA_ID") { settings.replicaId = id }
        if let lease = try integer("TOLLGATE_DISPATCH_LEASE_MS", 100...3_600_000) { settings.leaseMillis = lease }
        if let poll = try integer("TOLLGATE_DISPATCH_POLL_MS", 1...60_000) { settings.pollMillis = poll }
        if let maximum = try integer("TOLLGATE_DISPATCH_MAX_CONCURRENCY", 1...4096) { settings.maxConcurrency = Double(maximum) }
        if let initial = try integer("TOLLGATE_DISPATCH_INITIAL_CONCURRENCY", 1...4096) {
            settings.initialConcurrency = Double(initial)
        }
        if let attempts = try integer("TOLLGATE_DISPATCH_MAX_ATTEMPTS", 1...100) { settings.maxAttempts = Int(attempts) }
        if let header = try flag("TOLLGATE_DISPATCH_USE_UTILIZATION_HEADER") { settings.useUtilizationHeader = header }
        if let cooldown = try integer("TOLLGATE_DISPATCH_DECREASE_COOLDOWN_MS", 0...600_000) {
            settings.decreaseCooldownMillis = cooldown
        }
        if let age = try integer("TOLLGATE_DISPATCH_HINT_MAX_AGE_MS", 1...3_600_000) { settings.hintMaxAgeMillis = age }
        if let smoothing = try integer("TOLLGATE_DISPATCH_HINT_SMOOTHING_MS", 0...600_000) {
            settings.hintSmoothingMillis = smoothing
        }
        settings.backendAPIKey = value("TOLLGATE_BACKEND_API_KEY")
        if let identity = try flag("TOLLGATE_BACKEND_MANAGED_IDENTITY") { settings.backendManagedIdentity = identity }
        if settings.backendManagedIdentity, settings.backendAPIKey != nil {
            throw ConfigurationError("set either TOLLGATE_BACKEND_API_KEY or TOLLGATE_BACKEND_MANAGED_IDENTITY=on, not both")
        }
        if let resource = value("TOLLGATE_BACKEND_TOKEN_RESOURCE") { settings.backendTokenResource = resource }
        // AZURE_CLIENT_ID is what the Azure SDKs read, and what the generated Container App sets to
        // its user-assigned identity's client id.
        settings.managedIdentityClientId = value("TOLLGATE_MANAGED_IDENTITY_CLIENT_ID") ?? value("AZURE_CLIENT_ID")
        settings.managedIdentityEndpoint = ManagedIdentityEndpoint.detect(environment: environment)
        if let version = value("TOLLGATE_AZURE_OPENAI_API_VERSION") { settings.apiVersion = version }
        if let timeout = try integer("TOLLGATE_RELAY_TIMEOUT_S", 1...86_400) { settings.relayTimeoutSeconds = timeout }
        if let delay = try integer("TOLLGATE_RELAY_SETTLE_DELAY_MS", 0...10_000) { settings.settlementDelayMillis = delay }
        settings.azureMonitor = try AzureMonitorSettings.load(environment: environment)
        return settings
    }

    /// Controller parameters for a deployment with a target.
    public func controllerParameters(targetPercent: Int) -> ConcurrencyController.Parameters {
        var parameters = ConcurrencyController.Parameters(targetPercent: Double(targetPercent))
        parameters.maximum = maxConcurrency
        parameters.initial = min(initialConcurrency, maxConcurrency)
        parameters.decreaseCooldown = Double(decreaseCooldownMillis) / 1000
        parameters.hintMaxAge = Double(hintMaxAgeMillis) / 1000
        parameters.smoothing = Double(hintSmoothingMillis) / 1000
        if let monitor = azureMonitor { parameters.coarseMaxAge = monitor.maxAge }
        return parameters
    }
}

/// The live PTU signals per provisioned deployment (those with `targetUtilizationPercent`): one
/// ``ConcurrencyController`` each, fed by every response from that deployment — batch calls and
/// relayed online calls alike.
public final class PTUSignals: Sendable {
    private let controllers: Mutex<[String: ConcurrencyController]>
    private let start = ContinuousClock.now
    /// Whether the utilization header is used (off: 429 + retry-after-ms only).
    public let useUtilizationHeader: Bool

    /// Creates controllers for the provisioned deployments.
    public init(deployments: [RuntimeConfiguration.DeploymentConfiguration], settings: RelaySettings) {
        var map: [String: ConcurrencyController] = [:]
        for deployment in deployments {
            guard let target = deployment.targetUtilizationPercent else { continue }
            map[deployment.name] = ConcurrencyController(parameters: settings.controllerParameters(targetPercent: target))
        }
        controllers = Mutex(map)
        useUtilizationHeader = settings.useUtilizationHeader
    }

    /// Seconds since this registry was created (monotonic).
    public func now() -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// Whether `deployment` is provisioned (has a controller).
    public func tracks(_ deployment: String) -> Bool { controllers.withLock { $0[deployment] != nil } }

    /// Runs `body` on a deployment's controller.
    @discardableResult
    public func update<T>(_ deployment: String, _ body: (inout ConcurrencyController, Double) -> T) -> T? {
        let now = now()
        return controllers.withLock { map in
            guard var controller = map[deployment] else { return nil }
            let result = body(&controller, now)
            map[deployment] = controller
            return result
        }
    }

    /// The utilization header of a response, or nil (absent, malformed, or use disabled).
    public func utilization(from headerValue: String?) -> Double? {
        useUtilizationHeader ? UtilizationHeader.parse(headerValue) : nil
    }

    /// Records what an online (relayed) response said about a deployment.
    public func observeOnline(deployment: String, status: Int, utilization: Double?, retryAfter: Double?) {
        update(deployment) { controller, now in
            if status == 429 {
                controller.throttled(retryAfter: retryAfter, now: now)
            } else {
                controller.observe(utilization: utilization, now: now)
            }
        }
    }

    /// A snapshot of one deployment's controller.
    public func controller(_ deployment: String) -> ConcurrencyController? { controllers.withLock { $0[deployment] } }
}

/// The HTTP client the relay and the dispatcher share (connection pool sized for many concurrent
/// streams per backend).
func makeBackendClient() -> HTTPClient {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 512)
    configuration.timeout = .init(connect: .seconds(10), read: .seconds(300))
    configuration.decompression = .disabled
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}
