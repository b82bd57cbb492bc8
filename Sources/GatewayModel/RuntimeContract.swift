/// The wire contract between the generated policies and the Tollgate runtime (DESIGN.md §4).
///
/// The policy compiler builds its callout bodies from these field names and the runtime decodes the
/// same types, so the two sides cannot drift apart.
public enum RuntimeContract {
    /// Path of the budget check callout.
    public static let checkPath = "/v1/check"
    /// Path of the usage settlement callout.
    public static let usagePath = "/v1/usage"
    /// Prefix of the streaming relay.
    public static let relayPath = "/v1/relay/openai"
    /// Header carrying the gateway key.
    public static let gatewayKeyHeader = "X-Tollgate-Key"
    /// Header carrying the admin key.
    public static let adminKeyHeader = "X-Tollgate-Admin-Key"
}

/// `POST /v1/check` request: reserve the estimated cost of one call.
public struct CheckRequest: Codable, Sendable, Hashable {
    public var requestId: String
    public var product: String
    public var subscription: String
    public var user: String?
    public var model: String
    public var estimatedTokens: Int?
    /// Rates for this request instead of (or on top of) the price table.
    public var price: PriceOverride?

    public init(
        requestId: String, product: String, subscription: String, user: String? = nil, model: String,
        estimatedTokens: Int? = nil, price: PriceOverride? = nil
    ) {
        self.requestId = requestId
        self.product = product
        self.subscription = subscription
        self.user = user
        self.model = model
        self.estimatedTokens = estimatedTokens
        self.price = price
    }

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case requestId, product, subscription, user, model, estimatedTokens, price
    }
}

/// `POST /v1/check` response.
public struct CheckResponse: Codable, Sendable, Hashable {
    public enum Reason: String, Codable, Sendable, CaseIterable {
        case ok
        case budgetExhausted = "budget_exhausted"
        case unknownProduct = "unknown_product"
        case blocked
    }

    public var allowed: Bool
    public var reason: Reason
    /// Remaining budget in USD as a decimal string.
    public var remaining: String
    /// When the tightest budget resets (ISO-8601), nil for a total budget.
    public var resetAt: String?

    public init(allowed: Bool, reason: Reason, remaining: String, resetAt: String?) {
        self.allowed = allowed
        self.reason = reason
        self.remaining = remaining
        self.resetAt = resetAt
    }

    public enum CodingKeys: String, CodingKey, CaseIterable { case allowed, reason, remaining, resetAt }
}

/// Token counts of one call.
public struct TokenUsage: Codable, Sendable, Hashable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var cachedTokens: Int
    public var reasoningTokens: Int

    public init(promptTokens: Int, completionTokens: Int, cachedTokens: Int = 0, reasoningTokens: Int = 0) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedTokens = cachedTokens
        self.reasoningTokens = reasoningTokens
    }

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case promptTokens, completionTokens, cachedTokens, reasoningTokens
    }
}

/// `POST /v1/usage` request: settle one call. Either `usage` or the raw `response` body is given;
/// the generated policy sends the raw body's `usage` object as `response`.
public struct UsageReport: Codable, Sendable, Hashable {
    public var requestId: String
    public var product: String
    public var subscription: String
    public var user: String?
    public var api: String?
    public var model: String
    public var deployment: String?
    public var streaming: Bool
    public var usage: TokenUsage?
    public var response: JSONValue?
    /// Rates for this request instead of (or on top of) the price table.
    public var price: PriceOverride?

    public init(
        requestId: String, product: String, subscription: String, user: String? = nil, api: String? = nil,
        model: String, deployment: String? = nil, streaming: Bool, usage: TokenUsage? = nil, response: JSONValue? = nil,
        price: PriceOverride? = nil
    ) {
        self.requestId = requestId
        self.product = product
        self.subscription = subscription
        self.user = user
        self.api = api
        self.model = model
        self.deployment = deployment
        self.streaming = streaming
        self.usage = usage
        self.response = response
        self.price = price
    }

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case requestId, product, subscription, user, api, model, deployment, streaming, usage, response, price
    }
}

/// `POST /v1/usage` response.
public struct UsageResponse: Codable, Sendable, Hashable {
    public var requestId: String
    public var cost: String
    public var duplicate: Bool

    public init(requestId: String, cost: String, duplicate: Bool) {
        self.requestId = requestId
        self.cost = cost
        self.duplicate = duplicate
    }
}

/// Any JSON value, for raw response bodies.
public enum JSONValue: Codable, Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public var intValue: Int? {
        if case .number(let value) = self, value >= 0, value == value.rounded(), value < 9e15 { return Int(value) }
        return nil
    }
}

/// `infrastructure/runtime-config.json`: what `tollgate build` tells the runtime service.
public struct RuntimeConfiguration: Codable, Sendable, Hashable {
    public struct ProductConfiguration: Codable, Sendable, Hashable {
        public var id: String
        public var displayName: String
        public var budgets: [Budget]
        public var defaultEstimatedTokens: Int
        public var subscriptions: [String]

        public init(id: String, displayName: String, budgets: [Budget], defaultEstimatedTokens: Int, subscriptions: [String]) {
            self.id = id
            self.displayName = displayName
            self.budgets = budgets
            self.defaultEstimatedTokens = defaultEstimatedTokens
            self.subscriptions = subscriptions
        }
    }

    public struct DeploymentConfiguration: Codable, Sendable, Hashable {
        public var name: String
        public var model: String
        public var sku: String
        public var capacity: Int
        /// Base URL of the Azure OpenAI endpoint that serves this deployment.
        public var endpoint: String
        /// Set for provisioned deployments that batch jobs may use.
        public var targetUtilizationPercent: Int?

        public init(name: String, model: String, sku: String, capacity: Int, endpoint: String, targetUtilizationPercent: Int?) {
            self.name = name
            self.model = model
            self.sku = sku
            self.capacity = capacity
            self.endpoint = endpoint
            self.targetUtilizationPercent = targetUtilizationPercent
        }
    }

    /// Format version of this file.
    public var version: Int
    public var gateway: String
    public var runtimeURL: String?
    /// Header names the runtime accepts.
    public var gatewayKeyHeader: String
    public var adminKeyHeader: String
    /// APIM named value holding the gateway key (so operators know where it lives).
    public var gatewayKeyNamedValue: String?
    public var products: [ProductConfiguration]
    public var deployments: [DeploymentConfiguration]
    public var pricing: PricingTable

    public init(
        version: Int = 1, gateway: String, runtimeURL: String?, gatewayKeyHeader: String = RuntimeContract.gatewayKeyHeader,
        adminKeyHeader: String = RuntimeContract.adminKeyHeader, gatewayKeyNamedValue: String?,
        products: [ProductConfiguration], deployments: [DeploymentConfiguration], pricing: PricingTable
    ) {
        self.version = version
        self.gateway = gateway
        self.runtimeURL = runtimeURL
        self.gatewayKeyHeader = gatewayKeyHeader
        self.adminKeyHeader = adminKeyHeader
        self.gatewayKeyNamedValue = gatewayKeyNamedValue
        self.products = products
        self.deployments = deployments
        self.pricing = pricing
    }
}
