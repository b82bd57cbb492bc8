/// The Azure OpenAI inference API exposed through the gateway.
public struct API: Codable, Sendable, Hashable {
    public var id: String
    public var displayName: String
    /// URL suffix under the gateway host, e.g. `openai`.
    public var path: String
    /// The Azure OpenAI data-plane `api-version` the API is published with.
    public var apiVersion: String
    public var backend: BackendTarget
    public var authentication: ManagedIdentityAuth?
    public var subscriptionRequired: Bool
    /// Retry throttled (429) and unavailable (503) backend responses, honouring `Retry-After`.
    public var retry: ThrottleRetry?
    /// Emit token metrics to this Application Insights logger (its `TokenMetrics` settings).
    public var tokenMetricsLogger: String?
    /// Write a usage record per call to this Event Hub logger.
    public var usageLogger: String?
    /// Policies at API scope beyond what the typed settings generate.
    public var policies: PolicySections
    @Located public var location: SourceLocation?

    public init(
        id: String, displayName: String? = nil, path: String, apiVersion: String, backend: BackendTarget,
        authentication: ManagedIdentityAuth? = nil, subscriptionRequired: Bool = true,
        retry: ThrottleRetry? = ThrottleRetry(), tokenMetricsLogger: String? = nil, usageLogger: String? = nil,
        policies: PolicySections = PolicySections(), location: SourceLocation? = nil
    ) {
        self.id = id
        self.displayName = displayName ?? id
        self.path = path
        self.apiVersion = apiVersion
        self.backend = backend
        self.authentication = authentication
        self.subscriptionRequired = subscriptionRequired
        self.retry = retry
        self.tokenMetricsLogger = tokenMetricsLogger
        self.usageLogger = usageLogger
        self.policies = policies
        self.location = location
    }
}

/// Retry of throttled backend calls: waits what `Retry-After` asks, capped at `maxWaitSeconds`.
public struct ThrottleRetry: Codable, Sendable, Hashable {
    /// Number of retries (APIM allows 1–50).
    public var count: Int
    public var maxWaitSeconds: Int
    public var statusCodes: [Int]

    public init(count: Int = 2, maxWaitSeconds: Int = 10, statusCodes: [Int] = [429, 503]) {
        self.count = count
        self.maxWaitSeconds = maxWaitSeconds
        self.statusCodes = statusCodes
    }
}

/// Authentication to the backend with APIM's managed identity.
public struct ManagedIdentityAuth: Codable, Sendable, Hashable {
    public enum Identity: Codable, Sendable, Hashable {
        case systemAssigned
        case userAssigned(clientId: String)
    }

    public var identity: Identity
    /// Token audience; Azure OpenAI uses `https://cognitiveservices.azure.com`.
    public var resource: String
    public var outputTokenVariableName: String?

    public init(
        identity: Identity = .systemAssigned, resource: String = "https://cognitiveservices.azure.com",
        outputTokenVariableName: String? = nil
    ) {
        self.identity = identity
        self.resource = resource
        self.outputTokenVariableName = outputTokenVariableName
    }
}

/// A product: the unit teams subscribe to, with its budgets and limits.
public struct Product: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable, CaseIterable { case published, notPublished }

    public var id: String
    public var displayName: String
    public var description: String?
    public var subscriptionRequired: Bool
    public var approvalRequired: Bool
    public var state: State
    /// Ids of the APIs this product includes.
    public var apis: [String]
    public var subscriptions: [Subscription]
    public var budgets: [Budget]
    public var tokenLimits: [TokenLimit]
    public var rateLimits: [RateLimit]
    public var quotas: [Quota]
    /// Tokens assumed for a request when the budget check has no estimate.
    public var defaultEstimatedTokens: Int
    /// Policies at product scope beyond what the typed settings generate.
    public var policies: PolicySections
    @Located public var location: SourceLocation?

    public init(
        id: String, displayName: String? = nil, description: String? = nil, subscriptionRequired: Bool = true,
        approvalRequired: Bool = false, state: State = .published, apis: [String] = [],
        subscriptions: [Subscription] = [], budgets: [Budget] = [], tokenLimits: [TokenLimit] = [],
        rateLimits: [RateLimit] = [], quotas: [Quota] = [], defaultEstimatedTokens: Int = 1000,
        policies: PolicySections = PolicySections(), location: SourceLocation? = nil
    ) {
        self.id = id
        self.displayName = displayName ?? id
        self.description = description
        self.subscriptionRequired = subscriptionRequired
        self.approvalRequired = approvalRequired
        self.state = state
        self.apis = apis
        self.subscriptions = subscriptions
        self.budgets = budgets
        self.tokenLimits = tokenLimits
        self.rateLimits = rateLimits
        self.quotas = quotas
        self.defaultEstimatedTokens = defaultEstimatedTokens
        self.policies = policies
        self.location = location
    }
}

/// A subscription to a product.
public struct Subscription: Codable, Sendable, Hashable {
    public var id: String
    public var displayName: String
    /// Optional owner (APIM user id); nil for a shared key.
    public var owner: String?
    @Located public var location: SourceLocation?

    public init(id: String, displayName: String? = nil, owner: String? = nil, location: SourceLocation? = nil) {
        self.id = id
        self.displayName = displayName ?? id
        self.owner = owner
        self.location = location
    }
}
