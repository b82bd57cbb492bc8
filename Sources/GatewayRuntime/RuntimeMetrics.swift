import CoreMetrics
import Foundation
import Prometheus
import Synchronization

/// The runtime's metrics, created through swift-metrics on a per-application Prometheus registry so
/// several applications in one process (tests) do not share counters.
public struct RuntimeMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    /// Metric handles already made, by label and dimensions: making one looks it up in the registry
    /// (a lock, sorting and hashing its labels), which the hot routes should not pay per request.
    private let handles = HandleCache()

    /// Creates a fresh registry.
    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(500), .seconds(1),
        ]
        self.factory = factory
    }

    final class HandleCache: Sendable {
        struct Key: Hashable {
            var label: String
            var first: String
            var second: String
        }

        let counters = Mutex<[Key: CoreMetrics.Counter]>([:])
        let timers = Mutex<[Key: CoreMetrics.Timer]>([:])
    }

    private func counter(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Counter {
        let key = HandleCache.Key(
            label: label, first: dimensions.first.map { $0.0 + "=" + $0.1 } ?? "",
            second: dimensions.dropFirst().first.map { $0.0 + "=" + $0.1 } ?? "")
        if dimensions.count <= 2, let counter = handles.counters.withLock({ $0[key] }) { return counter }
        let counter = CoreMetrics.Counter(label: label, dimensions: dimensions, factory: factory)
        if dimensions.count <= 2 { handles.counters.withLock { $0[key] = counter } }
        return counter
    }

    /// Counts one HTTP request and records its latency.
    func request(route: String, status: Int, duration: Duration) {
        counter("tollgate_http_requests_total", [("route", route), ("status", String(status))]).increment()
        let key = HandleCache.Key(label: "tollgate_http_request_duration_seconds", first: route, second: "")
        let timer =
            handles.timers.withLock({ $0[key] })
            ?? {
                let timer = CoreMetrics.Timer(label: key.label, dimensions: [("route", route)], factory: factory)
                handles.timers.withLock { $0[key] = timer }
                return timer
            }()
        timer.recordNanoseconds(duration.nanoseconds)
    }

    /// Counts a denied budget check.
    func denial(product: String, reason: String) {
        counter("tollgate_check_denied_total", [("reason", reason)]).increment()
    }

    /// Counts a check.
    func check(allowed: Bool) {
        counter("tollgate_checks_total", [("allowed", allowed ? "true" : "false")]).increment()
    }

    /// Adds billed spend.
    func spend(product: String, usd: Decimal, tokens: Int) {
        FloatingPointCounter(label: "tollgate_spend_usd_total", dimensions: [("product", product)], factory: factory)
            .increment(by: NSDecimalNumber(decimal: usd).doubleValue)
        Counter(label: "tollgate_tokens_total", dimensions: [("product", product)], factory: factory)
            .increment(by: tokens)
    }

    /// Counts a usage report that repeated a request id.
    func duplicateUsage() {
        Counter(label: "tollgate_usage_duplicates_total", factory: factory).increment()
    }

    /// Counts a budget threshold alert.
    func thresholdAlert(threshold: Int) {
        Counter(label: "tollgate_budget_alerts_total", dimensions: [("threshold", String(threshold))], factory: factory)
            .increment()
    }

    /// The Prometheus text exposition.
    public func render() -> String { registry.emitToString() }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
