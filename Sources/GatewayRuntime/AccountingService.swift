public import Foundation
public import GatewayModel
public import Logging
public import RuntimeStorage
import Synchronization
public import UsageAccounting

/// The runtime's behaviour behind the routes: checks, usage settlement, products, alerts, reports.
/// Independent of HTTP so that it can be tested and reused (the relay settles through it too).
public struct AccountingService: Sendable {
    public let store: any RuntimeStore
    public let settings: RuntimeSettings
    public let calculator: CostCalculator
    public let metrics: RuntimeMetrics
    let logger: Logging.Logger
    let products: ProductCache
    let estimates = EstimateRates()
    /// Concurrent `/v1/usage` reports share a transaction.
    let groupCommit = UsageGroupCommit()

    /// Creates the service.
    public init(store: any RuntimeStore, settings: RuntimeSettings, metrics: RuntimeMetrics, logger: Logging.Logger) {
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
        self.products = ProductCache(store: store)
        var types: [String: String] = [:]
        for deployment in settings.configuration.deployments { types[deployment.name] = deployment.sku }
        calculator = CostCalculator(table: settings.configuration.pricing, deploymentTypes: types)
    }

    static func validateIdentifier(_ value: String, _ field: String) throws(APIError) {
        guard !value.isEmpty else { throw APIError.invalid("\(field) must not be empty") }
        guard value.utf8.count <= 256 else { throw APIError.invalid("\(field) is longer than 256 bytes") }
    }

    /// ISO-8601 texts of recent dates: answers name the same few period ends over and over.
    private static let isoTexts = Mutex<[Date: String]>([:])

    static func iso(_ date: Date?) -> String? {
        guard let date else { return nil }
        if let text = isoTexts.withLock({ $0[date] }) { return text }
        let text = date.formatted(.iso8601)
        isoTexts.withLock { cache in
            if cache.count >= 256 { cache.removeAll(keepingCapacity: true) }
            cache[date] = text
        }
        return text
    }

    /// The reservation for `tokens` of `model`: `CostCalculator.estimate`, exactly, but in integer
    /// arithmetic when the model's rate is a whole number of nano-dollars per token (every price
    /// with at most three decimals per 1M tokens), instead of `Decimal` division on every check.
    func estimate(tokens: Int, model: String) throws(PricingError) -> Nanos {
        if tokens >= 0, tokens <= EstimateRates.maximumTokens {
            if let known = estimates.rates.withLock({ $0[model] }) {
                if let perToken = known { return Nanos(Int64(tokens) * perToken) }
            } else {
                let one = try calculator.estimate(tokens: 1, model: model)
                let most = try calculator.estimate(tokens: EstimateRates.maximumTokens, model: model)
                // round(t × r) == t × round(r) for every t up to the maximum only if r is (almost) whole.
                let (product, overflow) = one.value.multipliedReportingOverflow(by: Int64(EstimateRates.maximumTokens))
                let perToken: Int64? = !overflow && product == most.value ? one.value : nil
                estimates.rates.withLock { rates in
                    if rates.count >= 1024 { rates.removeAll() }
                    rates[model] = .some(perToken)
                }
                if let perToken { return Nanos(Int64(tokens) * perToken) }
            }
        }
        return try calculator.estimate(tokens: tokens, model: model)
    }

    // MARK: Check

    /// `POST /v1/check`: reserves the estimated cost atomically.
    public func check(_ request: CheckRequest, now: Date = Date()) async throws -> CheckResponse {
        try Self.validateIdentifier(request.requestId, "requestId")
        try Self.validateIdentifier(request.product, "product")
        try Self.validateIdentifier(request.subscription, "subscription")
        try Self.validateIdentifier(request.model, "model")
        if let user = request.user { try Self.validateIdentifier(user, "user") }
        if let tokens = request.estimatedTokens, tokens < 0 || tokens > 100_000_000 {
            throw APIError.invalid("estimatedTokens must be between 0 and 100000000")
        }
        guard let product = try await products.product(id: request.product) else {
            metrics.denial(product: request.product, reason: "unknown_product")
            metrics.check(allowed: false)
            return CheckResponse(allowed: false, reason: .unknownProduct, remaining: "0.00", resetAt: nil)
        }
        let counters = BudgetPlan.counters(
            for: product, subscription: request.subscription, user: request.user, at: now, calendar: settings.calendar)
        if product.blocked {
            metrics.denial(product: product.id, reason: "blocked")
            metrics.check(allowed: false)
            return CheckResponse(allowed: false, reason: .blocked, remaining: "0.00", resetAt: Self.iso(counters.first?.resetAt))
        }
        let amount: Nanos
        do {
            let tokens = request.estimatedTokens ?? product.defaultEstimatedTokens
            if let price = request.price {
                amount = try calculator.estimate(tokens: tokens, model: request.model, override: price)
            } else {
                amount = try estimate(tokens: tokens, model: request.model)
            }
        } catch {
            throw APIError(.badRequest, "unknown_model", error.description)
        }
        let result = try await store.reserve(
            requestId: request.requestId, counters: counters, amount: amount,
            expiresAt: Int64(now.timeIntervalSince1970) + Int64(settings.reservationTTL))
        metrics.check(allowed: result.allowed)
        if !result.allowed { metrics.denial(product: product.id, reason: "budget_exhausted") }
        return CheckResponse(
            allowed: result.allowed, reason: result.allowed ? .ok : .budgetExhausted,
            remaining: (result.remaining ?? .zero).formatted(minimumScale: 2), resetAt: Self.iso(result.resetAt))
    }

    // MARK: Usage

    /// A validated usage report ready to settle.
    public struct PreparedUsage: Sendable {
        let record: UsageRecord
        let counters: [BudgetCounter]
    }

    /// Validates a report and prices it without changing anything.
    public func prepare(_ report: UsageReport, now: Date = Date()) async throws -> PreparedUsage {
        try Self.validateIdentifier(report.requestId, "requestId")
        try Self.validateIdentifier(report.product, "product")
        try Self.validateIdentifier(report.subscription, "subscription")
        try Self.validateIdentifier(report.model, "model")
        if let user = report.user { try Self.validateIdentifier(user, "user") }
        let usage: TokenUsage
        if let explicit = report.usage {
            usage = explicit
        } else if let response = report.response {
            do { usage = try UsageExtractor.usage(from: response) } catch {
                throw APIError.invalid(error.description)
            }
        } else {
            throw APIError.invalid("either usage or response is required")
        }
        do { try CostCalculator.validate(usage) } catch { throw APIError.invalid(error.description) }
        guard let product = try await products.product(id: report.product) else {
            throw APIError(.notFound, "unknown_product", "no product \"\(report.product)\"")
        }
        let cost: Nanos
        do {
            cost = try calculator.cost(of: usage, model: report.model, deployment: report.deployment, override: report.price)
        } catch {
            throw APIError(.badRequest, "unknown_model", error.description)
        }
        let record = UsageRecord(
            requestId: report.requestId, product: report.product, subscription: report.subscription, user: report.user,
            api: report.api, model: report.model, deployment: report.deployment, streaming: report.streaming,
            usage: usage, cost: cost, createdAt: Int64(now.timeIntervalSince1970))
        let counters = BudgetPlan.counters(
            for: product, subscription: report.subscription, user: report.user, at: now, calendar: settings.calendar)
        return PreparedUsage(record: record, counters: counters)
    }

    /// Settles a prepared report: idempotent on its request id.
    public func settle(_ prepared: PreparedUsage) async throws -> UsageResponse {
        try await settle(batch: [prepared])[0]
    }

    /// Settles several prepared reports in one transaction, each with the result it would have
    /// had on its own (a request id repeated in the batch is a duplicate of its first).
    public func settle(batch prepared: [PreparedUsage]) async throws -> [UsageResponse] {
        let results = try await store.settle(
            batch: prepared.map { PendingSettlement(record: $0.record, counters: $0.counters) })
        return zip(prepared, results).map { prepared, result in
            if result.duplicate {
                metrics.duplicateUsage()
            } else {
                let usage = prepared.record.usage
                metrics.spend(
                    product: prepared.record.product, usd: result.cost.usd, tokens: usage.promptTokens + usage.completionTokens)
                for alert in result.alerts {
                    metrics.thresholdAlert(threshold: alert.threshold)
                    logger.notice(
                        "budget threshold crossed",
                        metadata: [
                            "counter": "\(alert.counterKey)", "threshold": "\(alert.threshold)",
                            "spent": "\(alert.spent)", "limit": "\(alert.limit)",
                        ])
                }
            }
            return UsageResponse(requestId: prepared.record.requestId, cost: result.cost.formatted(), duplicate: result.duplicate)
        }
    }

    /// Settles `prepared` in one transaction; if that fails, report by report, so that one report
    /// that cannot be settled costs no other its billing. One result per report, in order.
    func settleEach(_ prepared: [PreparedUsage]) async -> [Result<UsageResponse, any Error>] {
        do {
            return try await settle(batch: prepared).map { .success($0) }
        } catch {
            guard prepared.count > 1 else { return [.failure(error)] }
            var results: [Result<UsageResponse, any Error>] = []
            for report in prepared {
                do { results.append(.success(try await settle(report))) } catch { results.append(.failure(error)) }
            }
            return results
        }
    }

    /// `POST /v1/usage`.
    public func usage(_ report: UsageReport, now: Date = Date()) async throws -> UsageResponse {
        try await groupCommit.settle(try await prepare(report, now: now), with: self)
    }

    // MARK: Products

    static func validate(_ product: ProductDefinition) throws(APIError) {
        if let problem = product.validationErrors().first { throw APIError.invalid(problem) }
    }

    // MARK: Alerts

    /// The product an Azure budget name refers to: the product id itself, or the id wrapped as
    /// `tollgate-<id>` / `<id>-budget`.
    func product(forBudget name: String) async throws -> ProductDefinition? {
        var candidates = [name]
        var trimmed = name
        if trimmed.lowercased().hasPrefix("tollgate-") { trimmed = String(trimmed.dropFirst("tollgate-".count)) }
        if trimmed.lowercased().hasSuffix("-budget") { trimmed = String(trimmed.dropLast("-budget".count)) }
        candidates.append(trimmed)
        for candidate in candidates where !candidate.isEmpty {
            if let product = try await store.product(id: candidate) { return product }
        }
        return nil
    }
}

/// Per model: nano-dollars per estimated token when that is exact, nil when it needs `Decimal`.
final class EstimateRates: Sendable {
    /// The largest estimate a check accepts; the fast path is proven exact up to here.
    static let maximumTokens = 100_000_000
    let rates = Mutex<[String: Int64?]>([:])
}

/// Products read in the last second, so that the hot routes do not read and decode the product on
/// every call. Changes made through this process invalidate the entry at once; changes made by
/// another replica are seen within `ttl`.
final class ProductCache: Sendable {
    let store: any RuntimeStore
    let ttl: Duration
    private let entries = Mutex<[String: (product: ProductDefinition?, loaded: ContinuousClock.Instant)]>([:])

    init(store: any RuntimeStore, ttl: Duration = .seconds(1)) {
        self.store = store
        self.ttl = ttl
    }

    func product(id: String) async throws -> ProductDefinition? {
        let now = ContinuousClock.now
        if let entry = entries.withLock({ $0[id] }), now - entry.loaded < ttl { return entry.product }
        let product = try await store.product(id: id)
        entries.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }
            cache[id] = (product, now)
        }
        return product
    }

    func invalidate(_ id: String) {
        _ = entries.withLock { $0.removeValue(forKey: id) }
    }
}
