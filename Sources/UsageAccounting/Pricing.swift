import Foundation
public import GatewayModel

/// Errors raised while pricing a call.
public enum PricingError: Error, Equatable, CustomStringConvertible {
    /// No price is known for the model (neither exactly nor by a dated-version prefix).
    case unknownModel(String)
    /// Token counts that cannot describe a real call.
    case invalidUsage(String)

    public var description: String {
        switch self {
        case .unknownModel(let model): "no price for model \"\(model)\""
        case .invalidUsage(let reason): reason
        }
    }
}

/// Turns token counts into money with a `PricingTable` (USD per one million tokens).
///
/// - Cached tokens are a part of the prompt tokens and are charged at the cached-input rate;
///   the rest of the prompt is charged at the input rate.
/// - Reasoning tokens are output tokens: OpenAI counts them inside `completion_tokens`, so they are
///   charged at the output rate as part of the completion and never added a second time.
/// - All arithmetic is `Decimal`; results are rounded to whole nano-dollars (`Nanos`).
public struct CostCalculator: Sendable {
    /// The table prices are read from.
    public var table: PricingTable
    /// Deployment name → deployment type (`GlobalStandard`, `ProvisionedManaged`, …) for
    /// deployment-specific prices.
    public var deploymentTypes: [String: String]

    /// Creates a calculator over a price table.
    public init(table: PricingTable, deploymentTypes: [String: String] = [:]) {
        self.table = table
        self.deploymentTypes = deploymentTypes
    }

    /// The price of a model: an exact name first, then the longest table entry that is a prefix of a
    /// dated model version (`gpt-4o-2024-08-06` → `gpt-4o`).
    public func price(model: String, deployment: String? = nil) -> ModelPrice? {
        let type = deployment.flatMap { deploymentTypes[$0] }
        if let exact = table.price(model: model, deploymentType: type) { return exact }
        let prefixes = table.prices.map(\.model).filter { model.hasPrefix($0 + "-") }
        guard let best = prefixes.max(by: { $0.count < $1.count }) else { return nil }
        return table.price(model: best, deploymentType: type)
    }

    /// The price a request pays: the table's price with the request's override applied; an override
    /// with every rate needs no table entry.
    public func price(model: String, deployment: String? = nil, override: PriceOverride?) -> ModelPrice? {
        guard let override else { return price(model: model, deployment: deployment) }
        if let base = price(model: model, deployment: deployment) { return override.applied(to: base) }
        guard override.isComplete else { return nil }
        return override.applied(to: ModelPrice(model: model, input: 0, cachedInput: 0, output: 0))
    }

    /// Checks that token counts are consistent: none negative, cached ≤ prompt, reasoning ≤ completion.
    public static func validate(_ usage: TokenUsage) throws(PricingError) {
        guard usage.promptTokens >= 0, usage.completionTokens >= 0, usage.cachedTokens >= 0, usage.reasoningTokens >= 0
        else { throw .invalidUsage("token counts must not be negative") }
        guard usage.cachedTokens <= usage.promptTokens else {
            throw .invalidUsage("cachedTokens must not exceed promptTokens")
        }
        guard usage.reasoningTokens <= usage.completionTokens else {
            throw .invalidUsage("reasoningTokens must not exceed completionTokens")
        }
    }

    /// The exact cost of one call in USD.
    public static func cost(of usage: TokenUsage, at price: ModelPrice) -> Decimal {
        let uncached = Decimal(usage.promptTokens - usage.cachedTokens)
        let perMillion = uncached * price.input + Decimal(usage.cachedTokens) * price.cachedInput
            + Decimal(usage.completionTokens) * price.output
        return perMillion / Decimal(1_000_000)
    }

    /// The cost of one call rounded to nano-dollars, after validating the counts.
    public func cost(
        of usage: TokenUsage, model: String, deployment: String? = nil, override: PriceOverride? = nil
    ) throws(PricingError) -> Nanos {
        try Self.validate(usage)
        guard let price = price(model: model, deployment: deployment, override: override) else { throw .unknownModel(model) }
        return Nanos(rounding: Self.cost(of: usage, at: price))
    }

    /// The cost reserved for a budget check: the estimate counted as prompt tokens at the input rate
    /// (a conservative choice when the split between prompt and completion is unknown is the larger
    /// of the two rates).
    public func estimate(
        tokens: Int, model: String, deployment: String? = nil, override: PriceOverride? = nil
    ) throws(PricingError) -> Nanos {
        guard tokens >= 0 else { throw .invalidUsage("estimatedTokens must not be negative") }
        guard let price = price(model: model, deployment: deployment, override: override) else { throw .unknownModel(model) }
        let rate = max(price.input, price.output)
        return Nanos(rounding: Decimal(tokens) * rate / Decimal(1_000_000))
    }
}

/// An exact amount of USD in nano-dollars (10⁻⁹ USD), the unit the storage keeps money in.
///
/// Integers make sums exact in SQLite and PostgreSQL alike; 9.2 billion USD fit in an `Int64`.
public struct Nanos: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The amount in 10⁻⁹ USD.
    public var value: Int64

    /// Wraps a raw nano-dollar amount.
    public init(_ value: Int64) { self.value = value }

    /// Rounds a USD amount to whole nano-dollars (banker's rounding).
    public init(rounding usd: Decimal) {
        var scaled = usd * Decimal(1_000_000_000)
        var rounded = Decimal()
        NSDecimalRound(&rounded, &scaled, 0, .bankers)
        value = NSDecimalNumber(decimal: rounded).int64Value
    }

    /// Zero dollars.
    public static let zero = Nanos(0)

    /// The amount in USD as an exact decimal.
    public var usd: Decimal { Decimal(value) / Decimal(1_000_000_000) }

    /// USD as a decimal string with at least `minimumScale` fraction digits and no rounding:
    /// `"0.004500"`, `"0.0000000125"` is never produced since nanos have at most 9 digits.
    public func formatted(minimumScale: Int = 6) -> String {
        let negative = value < 0
        let magnitude = value.magnitude
        let whole = magnitude / 1_000_000_000
        var fraction = String(magnitude % 1_000_000_000)
        fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
        while fraction.count > minimumScale, fraction.last == "0" { fraction.removeLast() }
        return "\(negative ? "-" : "")\(whole).\(fraction)"
    }

    public var description: String { formatted() }

    public static func < (lhs: Nanos, rhs: Nanos) -> Bool { lhs.value < rhs.value }
    public static func + (lhs: Nanos, rhs: Nanos) -> Nanos { Nanos(lhs.value + rhs.value) }
    public static func - (lhs: Nanos, rhs: Nanos) -> Nanos { Nanos(lhs.value - rhs.value) }
}
