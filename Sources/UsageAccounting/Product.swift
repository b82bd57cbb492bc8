import Foundation
public import GatewayModel

/// A product as the runtime stores it and as `/v1/products` exchanges it.
///
/// Budgets use the flat wire shape of the contract:
/// `{"amount":"500.00","currency":"USD","period":"monthly","scope":"product","enforcement":"hard","alertThresholds":[50,80,100]}`.
public struct ProductDefinition: Codable, Sendable, Hashable {
    /// Product id, as in APIM (`team-a`).
    public var id: String
    public var displayName: String
    public var budgets: [Budget]
    /// Tokens reserved by `/v1/check` when the request gives no estimate.
    public var defaultEstimatedTokens: Int
    /// Subscription ids known for this product (informational).
    public var subscriptions: [String]
    /// Set by a budget alert with the `block` action: every check is denied with `blocked`.
    public var blocked: Bool

    /// Creates a product.
    public init(
        id: String, displayName: String? = nil, budgets: [Budget] = [], defaultEstimatedTokens: Int = 1000,
        subscriptions: [String] = [], blocked: Bool = false
    ) {
        self.id = id
        self.displayName = displayName ?? id
        self.budgets = budgets
        self.defaultEstimatedTokens = defaultEstimatedTokens
        self.subscriptions = subscriptions
        self.blocked = blocked
    }

    /// The product as `runtime-config.json` describes it.
    public init(_ configuration: RuntimeConfiguration.ProductConfiguration) {
        self.init(
            id: configuration.id, displayName: configuration.displayName, budgets: configuration.budgets,
            defaultEstimatedTokens: configuration.defaultEstimatedTokens, subscriptions: configuration.subscriptions)
    }

    enum CodingKeys: String, CodingKey { case id, displayName, budgets, defaultEstimatedTokens, subscriptions, blocked }
    enum BudgetKeys: String, CodingKey { case amount, currency, period, scope, enforcement, alertThresholds }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        displayName = try container.decodeIfPresent(String.self, forKey: .displayName) ?? id
        defaultEstimatedTokens = try container.decodeIfPresent(Int.self, forKey: .defaultEstimatedTokens) ?? 1000
        subscriptions = try container.decodeIfPresent([String].self, forKey: .subscriptions) ?? []
        blocked = try container.decodeIfPresent(Bool.self, forKey: .blocked) ?? false
        var list = try container.nestedUnkeyedContainer(forKey: .budgets)
        var budgets: [Budget] = []
        while !list.isAtEnd {
            let item = try list.nestedContainer(keyedBy: BudgetKeys.self)
            let money: Money
            if let text = try? item.decode(String.self, forKey: .amount) {
                guard let value = Money.parseDecimal(text) else {
                    throw DecodingError.dataCorruptedError(
                        forKey: .amount, in: item, debugDescription: "amount must be a decimal string like \"500.00\"")
                }
                money = Money(value, currency: try item.decodeIfPresent(String.self, forKey: .currency) ?? "USD")
            } else {
                money = try item.decode(Money.self, forKey: .amount)
            }
            budgets.append(
                Budget(
                    amount: money, period: try item.decode(Budget.Period.self, forKey: .period),
                    scope: try item.decodeIfPresent(Budget.Scope.self, forKey: .scope) ?? .product,
                    enforcement: try item.decodeIfPresent(Budget.Enforcement.self, forKey: .enforcement) ?? .hard,
                    alertThresholds: try item.decodeIfPresent([Int].self, forKey: .alertThresholds) ?? [50, 80, 100]))
        }
        self.budgets = budgets
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(displayName, forKey: .displayName)
        var list = container.nestedUnkeyedContainer(forKey: .budgets)
        for budget in budgets {
            var item = list.nestedContainer(keyedBy: BudgetKeys.self)
            try item.encode(budget.amount.formatted(scale: max(2, budget.amount.amount.fractionDigits)), forKey: .amount)
            try item.encode(budget.amount.currency, forKey: .currency)
            try item.encode(budget.period, forKey: .period)
            try item.encode(budget.scope, forKey: .scope)
            try item.encode(budget.enforcement, forKey: .enforcement)
            try item.encode(budget.alertThresholds, forKey: .alertThresholds)
        }
        try container.encode(defaultEstimatedTokens, forKey: .defaultEstimatedTokens)
        try container.encode(subscriptions, forKey: .subscriptions)
        try container.encode(blocked, forKey: .blocked)
    }

    /// Problems that make the product unusable; empty when it is valid.
    public func validationErrors() -> [String] {
        var errors: [String] = []
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        if id.isEmpty || id.count > 256 || !id.allSatisfy({ allowed.contains($0) }) {
            errors.append("id must be 1–256 characters of letters, digits, '-', '_' or '.'")
        }
        if defaultEstimatedTokens < 0 { errors.append("defaultEstimatedTokens must not be negative") }
        for (index, budget) in budgets.enumerated() {
            if budget.amount.amount < 0 { errors.append("budgets[\(index)].amount must not be negative") }
            if budget.amount.amount > Decimal(1_000_000_000) { errors.append("budgets[\(index)].amount is too large") }
            if budget.amount.currency != "USD" { errors.append("budgets[\(index)].currency must be USD") }
            if budget.alertThresholds.contains(where: { $0 <= 0 || $0 > 1000 }) {
                errors.append("budgets[\(index)].alertThresholds must be percentages between 1 and 1000")
            }
        }
        return errors
    }
}
