import AsyncHTTPClient
import Foundation
import GatewayModel
import Logging
import NIOCore
import ServiceLifecycle
import UsageAccounting

/// Settings of the optional coarse gate fed by Azure Monitor (environment):
///
/// | variable | meaning |
/// |---|---|
/// | `TOLLGATE_PTU_METRICS_RESOURCE_ID` | resource id of the Azure OpenAI account (`/subscriptions/…/providers/Microsoft.CognitiveServices/accounts/NAME`) serving every provisioned deployment not listed below |
/// | `TOLLGATE_PTU_METRICS_RESOURCE_IDS` | per deployment, comma-separated `deployment=resourceId` pairs (overrides the line above) |
/// | `TOLLGATE_PTU_METRICS_URL` | Azure Resource Manager base URL (default `https://management.azure.com`) |
/// | `TOLLGATE_PTU_METRICS_INTERVAL_S` | poll interval, default 60 |
/// | `TOLLGATE_PTU_METRICS_MAX_AGE_S` | a data point older than this (by its own timestamp) is unknown, default 300 |
/// | `TOLLGATE_PTU_METRICS_TOKEN` | a bearer token to use as is (tests); otherwise the managed identity's for `https://management.azure.com/` |
///
/// With neither resource-id variable set there is no coarse gate.
struct AzureMonitorSettings: Sendable {
    /// Account resource id for deployments without their own.
    var resourceId: String?
    /// Account resource id per deployment.
    var resourceIds: [String: String] = [:]
    var baseURL: String
    var interval: Double
    var maxAge: Double = 300
    var staticToken: String?

    static let armResource = "https://management.azure.com/"

    /// The account that serves `deployment`, if any.
    func resourceId(for deployment: String) -> String? { resourceIds[deployment] ?? resourceId }

    static func normalized(_ id: String) -> String {
        var id = id.trimmingCharacters(in: .whitespaces)
        while id.hasSuffix("/") { id.removeLast() }
        return id.hasPrefix("/") ? id : "/" + id
    }

    static func load(environment: [String: String]) throws -> AzureMonitorSettings? {
        let single = environment["TOLLGATE_PTU_METRICS_RESOURCE_ID"].flatMap { $0.isEmpty ? nil : normalized($0) }
        var perDeployment: [String: String] = [:]
        for pair in (environment["TOLLGATE_PTU_METRICS_RESOURCE_IDS"] ?? "").split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ConfigurationError(
                    "TOLLGATE_PTU_METRICS_RESOURCE_IDS must be deployment=resourceId pairs separated by commas, got \"\(pair)\"")
            }
            perDeployment[parts[0]] = normalized(parts[1])
        }
        guard single != nil || !perDeployment.isEmpty else { return nil }
        var base = environment["TOLLGATE_PTU_METRICS_URL"] ?? "https://management.azure.com"
        while base.hasSuffix("/") { base.removeLast() }
        func seconds(_ name: String, _ fallback: Double) throws -> Double {
            guard let text = environment[name], !text.isEmpty else { return fallback }
            guard let value = Double(text), value.isFinite, value > 0 else {
                throw ConfigurationError("\(name) must be a positive number of seconds, got \"\(text)\"")
            }
            return value
        }
        return AzureMonitorSettings(
            resourceId: single, resourceIds: perDeployment, baseURL: base,
            interval: max(0.05, try seconds("TOLLGATE_PTU_METRICS_INTERVAL_S", 60)),
            maxAge: try seconds("TOLLGATE_PTU_METRICS_MAX_AGE_S", 300),
            staticToken: environment["TOLLGATE_PTU_METRICS_TOKEN"].flatMap { $0.isEmpty ? nil : $0 })
    }
}

/// Polls `AzureOpenAIProvisionedManagedUtilizationV2` (1-minute grain, `aggregation=Maximum`,
/// `$filter=ModelDeploymentName eq '…'`) for each provisioned deployment and records it in the
/// deployment's ``CoarseUtilizationGate``. A failed query or an empty series records nothing, so the
/// gate reads `unknown` once its last value is older than its maximum age — never 0%.
struct AzureMonitorPoller: Service {
    let settings: AzureMonitorSettings
    let deployments: [String]
    let signals: PTUSignals
    let client: HTTPClient
    /// Managed-identity tokens (nil: only ``AzureMonitorSettings/staticToken``).
    let identity: ManagedIdentityTokenProvider?
    let logger: Logging.Logger

    /// The Metrics REST API query for one deployment over the last `minutes` minutes.
    static func queryURL(settings: AzureMonitorSettings, deployment: String, now: Date, minutes: Int = 10) -> String? {
        guard let resourceId = settings.resourceId(for: deployment) else { return nil }
        let formatter = ISO8601DateFormatter()
        let timespan = formatter.string(from: now.addingTimeInterval(Double(-minutes * 60))) + "/" + formatter.string(from: now)
        let filter = "ModelDeploymentName eq '\(deployment.replacingOccurrences(of: "'", with: "''"))'"
        var components = URLComponents()
        components.queryItems = [
            URLQueryItem(name: "api-version", value: "2023-10-01"),
            URLQueryItem(name: "metricnames", value: "AzureOpenAIProvisionedManagedUtilizationV2"),
            URLQueryItem(name: "aggregation", value: "Maximum"),
            URLQueryItem(name: "interval", value: "PT1M"),
            URLQueryItem(name: "timespan", value: timespan),
            URLQueryItem(name: "$filter", value: filter),
        ]
        let query = (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        return settings.baseURL + resourceId + "/providers/Microsoft.Insights/metrics?" + query
    }

    /// The newest data point that has a `maximum` in a Metrics REST API answer, or nil when there is none.
    static func latestPoint(_ body: Data) -> (time: Date, maximum: Double)? {
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any],
            let metrics = object["value"] as? [[String: Any]]
        else { return nil }
        let formatter = ISO8601DateFormatter()
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var latest: (time: Date, maximum: Double)?
        for metric in metrics {
            for series in (metric["timeseries"] as? [[String: Any]]) ?? [] {
                for point in (series["data"] as? [[String: Any]]) ?? [] {
                    guard let value = (point["maximum"] as? NSNumber)?.doubleValue, value.isFinite,
                        let stamp = point["timeStamp"] as? String,
                        let time = formatter.date(from: stamp) ?? fractional.date(from: stamp)
                    else { continue }
                    if latest == nil || time > latest!.time { latest = (time, value) }
                }
            }
        }
        return latest
    }

    /// The newest `maximum` in a Metrics REST API answer, or nil when there is none.
    static func latestMaximum(_ body: Data) -> Double? { latestPoint(body)?.maximum }

    func token() async throws -> String? {
        if let token = settings.staticToken { return token }
        return try await identity?.token(resource: AzureMonitorSettings.armResource)
    }

    func run() async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await poll()
                do { try await Task.sleep(for: .milliseconds(Int(settings.interval * 1000))) } catch { return }
            }
        }
    }

    /// One query per deployment. A data point is recorded with its own age (its minute's timestamp
    /// against the wall clock), so an old point read now is still old; a failed query, an empty
    /// series or no token records nothing, and the gate reads `unknown` once the last point is
    /// older than the maximum age — never 0%.
    func poll() async {
        let token: String?
        do { token = try await self.token() } catch {
            logger.warning("coarse gate: no managed-identity token; utilization unknown", metadata: ["error": "\(error)"])
            return
        }
        for deployment in deployments {
            guard let url = Self.queryURL(settings: settings, deployment: deployment, now: Date()) else { continue }
            var request = HTTPClientRequest(url: url)
            if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            do {
                let response = try await client.execute(request, timeout: .seconds(30))
                let body = try await response.body.collect(upTo: 4 << 20)
                guard response.status == .ok else {
                    if response.status == .unauthorized { identity?.invalidate(resource: AzureMonitorSettings.armResource) }
                    logger.warning(
                        "coarse gate: metrics query failed", metadata: ["deployment": "\(deployment)", "status": "\(response.status.code)"])
                    continue
                }
                guard let point = Self.latestPoint(Data(body.readableBytesView)) else { continue }
                let age = max(0, Date().timeIntervalSince(point.time))
                signals.update(deployment) { controller, now in controller.recordCoarse(percent: point.maximum, now: now - age) }
            } catch {
                logger.warning("coarse gate: metrics query failed", metadata: ["deployment": "\(deployment)", "error": "\(error)"])
            }
        }
    }
}
