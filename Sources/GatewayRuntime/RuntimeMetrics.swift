import CoreMetrics
import Foundation
import Prometheus

/// The runtime's metrics, created through swift-metrics on a per-application Prometheus registry so
/// several applications in one process (tests) do not share counters.
public struct RuntimeMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

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

    /// Counts one HTTP request and records its latency.
    func request(route: String, status: Int, duration: Duration) {
        Counter(
            label: "tollgate_http_requests_total", dimensions: [("route", route), ("status", String(status))],
            factory: factory
        ).increment()
        Timer(label: "tollgate_http_request_duration_seconds", dimensions: [("route", route)], factory: factory)
            .recordNanoseconds(duration.nanoseconds)
    }

    /// Counts a denied budget check.
    func denial(product: String, reason: String) {
        Counter(label: "tollgate_check_denied_total", dimensions: [("reason", reason)], factory: factory).increment()
    }

    /// Counts a check.
    func check(allowed: Bool) {
        Counter(label: "tollgate_checks_total", dimensions: [("allowed", allowed ? "true" : "false")], factory: factory)
            .increment()
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
