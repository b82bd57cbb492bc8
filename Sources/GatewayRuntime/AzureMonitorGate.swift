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
/// | `TOLLGATE_PTU_METRICS_RESOURCE_ID` | the Azure OpenAI account's resource id (`/subscriptions/…/accounts/NAME`); unset: no coarse gate |
/// | `TOLLGATE_PTU_METRICS_URL` | Azure Resource Manager base URL (default `https://management.azure.com`) |
/// | `TOLLGATE_PTU_METRICS_INTERVAL_S` | poll interval, default 60 |
/// | `TOLLGATE_PTU_METRICS_TOKEN` | a bearer token to use as is (tests); otherwise the managed identity's |
struct AzureMonitorSettings: Sendable {
    var resourceId: String
    var baseURL: String
    var interval: Double
    var staticToken: String?

    static func load(environment: [String: String]) -> AzureMonitorSettings? {
        guard let id = environment["TOLLGATE_PTU_METRICS_RESOURCE_ID"], !id.isEmpty else { return nil }
        var base = environment["TOLLGATE_PTU_METRICS_URL"] ?? "https://management.azure.com"
        while base.hasSuffix("/") { base.removeLast() }
        let interval = environment["TOLLGATE_PTU_METRICS_INTERVAL_S"].flatMap(Double.init).map { max(0.05, $0) } ?? 60
        return AzureMonitorSettings(
            resourceId: id.hasPrefix("/") ? id : "/" + id, baseURL: base, interval: interval,
            staticToken: environment["TOLLGATE_PTU_METRICS_TOKEN"])
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
    let logger: Logging.Logger

    /// The Metrics REST API query for one deployment over the last `minutes` minutes.
    static func queryURL(settings: AzureMonitorSettings, deployment: String, now: Date, minutes: Int = 10) -> String {
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
        return settings.baseURL + settings.resourceId + "/providers/Microsoft.Insights/metrics?" + query
    }

    /// The newest `maximum` in a Metrics REST API answer, or nil when there is none.
    static func latestMaximum(_ body: Data) -> Double? {
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any],
            let metrics = object["value"] as? [[String: Any]]
        else { return nil }
        var latest: (time: String, value: Double)?
        for metric in metrics {
            for series in (metric["timeseries"] as? [[String: Any]]) ?? [] {
                for point in (series["data"] as? [[String: Any]]) ?? [] {
                    guard let value = (point["maximum"] as? NSNumber)?.doubleValue, let time = point["timeStamp"] as? String else {
                        continue
                    }
                    if latest == nil || time > latest!.time { latest = (time, value) }
                }
            }
        }
        return latest?.value
    }

    func token() async throws -> String? {
        if let token = settings.staticToken { return token }
        let environment = ProcessInfo.processInfo.environment
        var request: HTTPClientRequest
        let resource = "https://management.azure.com/"
        if let endpoint = environment["IDENTITY_ENDPOINT"], let header = environment["IDENTITY_HEADER"] {
            // App Service / Container Apps managed identity.
            request = HTTPClientRequest(url: "\(endpoint)?api-version=2019-08-01&resource=\(resource)")
            request.headers.add(name: "X-IDENTITY-HEADER", value: header)
        } else {
            // Virtual machines and AKS: the instance metadata service.
            request = HTTPClientRequest(
                url: "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=\(resource)")
            request.headers.add(name: "Metadata", value: "true")
        }
        let response = try await client.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok,
            let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
        else { return nil }
        return object["access_token"] as? String
    }

    func run() async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await poll()
                do { try await Task.sleep(for: .milliseconds(Int(settings.interval * 1000))) } catch { return }
            }
        }
    }

    func poll() async {
        let token: String?
        do { token = try await self.token() } catch {
            logger.warning("coarse gate: no managed-identity token; utilization unknown", metadata: ["error": "\(error)"])
            return
        }
        for deployment in deployments {
            var request = HTTPClientRequest(url: Self.queryURL(settings: settings, deployment: deployment, now: Date()))
            if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            do {
                let response = try await client.execute(request, timeout: .seconds(30))
                let body = try await response.body.collect(upTo: 4 << 20)
                guard response.status == .ok else {
                    logger.warning("coarse gate: metrics query failed", metadata: ["status": "\(response.status.code)"])
                    continue
                }
                let value = Self.latestMaximum(Data(body.readableBytesView))
                signals.update(deployment) { controller, now in controller.recordCoarse(percent: value, now: now) }
            } catch {
                logger.warning("coarse gate: metrics query failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
