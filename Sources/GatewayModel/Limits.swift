/// A spend limit, enforced by the Tollgate runtime through the generated callouts.
public struct Budget: Codable, Sendable, Hashable {
    public enum Period: String, Codable, Sendable, CaseIterable { case daily, weekly, monthly, total }
    public enum Scope: String, Codable, Sendable, CaseIterable { case product, subscription, user }
    public enum Enforcement: String, Codable, Sendable, CaseIterable {
        /// Deny requests once the budget is spent.
        case hard
        /// Alert only.
        case soft
    }

    public var amount: Money
    public var period: Period
    public var scope: Scope
    public var enforcement: Enforcement
    /// Percentages of the amount at which an alert fires once per period.
    public var alertThresholds: [Int]
    @Located public var location: SourceLocation?

    public init(
        amount: Money, period: Period, scope: Scope = .product, enforcement: Enforcement = .hard,
        alertThresholds: [Int] = [50, 80, 100], location: SourceLocation? = nil
    ) {
        self.amount = amount
        self.period = period
        self.scope = scope
        self.enforcement = enforcement
        self.alertThresholds = alertThresholds
        self.location = location
    }
}

/// What a rate limit or quota counts by.
public enum CounterKey: Codable, Sendable, Hashable {
    case subscription
    case product
    /// The caller's identity: the `oid` claim of the bearer token, else the subscription.
    case user
    case ipAddress
    /// Any policy expression, e.g. `@(context.Request.Headers.GetValueOrDefault("x-team",""))`.
    case expression(String)

    /// The policy expression APIM evaluates for this key.
    public var policyExpression: String {
        switch self {
        case .subscription: "@(context.Subscription.Id)"
        case .product: "@(context.Product.Id)"
        case .user:
            "@(context.Request.Headers.GetValueOrDefault(\"Authorization\",\"\").AsJwt()?.Claims.GetValueOrDefault(\"oid\", context.Subscription.Id) ?? context.Subscription.Id)"
        case .ipAddress: "@(context.Request.IpAddress)"
        case .expression(let text): text
        }
    }
}

/// Which token-limit policy APIM should use.
public enum TokenPolicyFlavor: String, Codable, Sendable, CaseIterable {
    /// `azure-openai-token-limit` / `azure-openai-emit-token-metric`.
    case azureOpenAI
    /// `llm-token-limit` / `llm-emit-token-metric`.
    case llm
}

/// Token rate limit and/or quota enforced by APIM itself.
public struct TokenLimit: Codable, Sendable, Hashable {
    public enum QuotaPeriod: String, Codable, Sendable, CaseIterable {
        case hourly = "Hourly", daily = "Daily", weekly = "Weekly", monthly = "Monthly", yearly = "Yearly"
    }

    public var tokensPerMinute: Int?
    public var tokenQuota: Int?
    public var tokenQuotaPeriod: QuotaPeriod?
    public var counter: CounterKey
    public var estimatePromptTokens: Bool
    public var flavor: TokenPolicyFlavor
    public var remainingTokensHeader: String?
    public var consumedTokensHeader: String?
    public var remainingQuotaTokensHeader: String?
    @Located public var location: SourceLocation?

    public init(
        tokensPerMinute: Int? = nil, tokenQuota: Int? = nil, tokenQuotaPeriod: QuotaPeriod? = nil,
        counter: CounterKey = .subscription, estimatePromptTokens: Bool = true, flavor: TokenPolicyFlavor = .azureOpenAI,
        remainingTokensHeader: String? = "x-ratelimit-remaining-tokens", consumedTokensHeader: String? = "x-tokens-consumed",
        remainingQuotaTokensHeader: String? = nil, location: SourceLocation? = nil
    ) {
        self.tokensPerMinute = tokensPerMinute
        self.tokenQuota = tokenQuota
        self.tokenQuotaPeriod = tokenQuotaPeriod
        self.counter = counter
        self.estimatePromptTokens = estimatePromptTokens
        self.flavor = flavor
        self.remainingTokensHeader = remainingTokensHeader
        self.consumedTokensHeader = consumedTokensHeader
        self.remainingQuotaTokensHeader = remainingQuotaTokensHeader
        self.location = location
    }
}

/// Request rate limit by key (`rate-limit-by-key`): a sliding window of at most 300 seconds.
public struct RateLimit: Codable, Sendable, Hashable {
    public var calls: Int
    public var renewalPeriodSeconds: Int
    public var counter: CounterKey
    public var remainingCallsHeader: String?
    @Located public var location: SourceLocation?

    public init(
        calls: Int, renewalPeriodSeconds: Int, counter: CounterKey = .subscription,
        remainingCallsHeader: String? = "x-ratelimit-remaining-requests", location: SourceLocation? = nil
    ) {
        self.calls = calls
        self.renewalPeriodSeconds = renewalPeriodSeconds
        self.counter = counter
        self.remainingCallsHeader = remainingCallsHeader
        self.location = location
    }
}

/// Call and/or bandwidth quota by key (`quota-by-key`).
public struct Quota: Codable, Sendable, Hashable {
    public var calls: Int?
    public var bandwidthKilobytes: Int?
    public var renewalPeriodSeconds: Int
    public var counter: CounterKey
    @Located public var location: SourceLocation?

    public init(
        calls: Int? = nil, bandwidthKilobytes: Int? = nil, renewalPeriodSeconds: Int, counter: CounterKey = .subscription,
        location: SourceLocation? = nil
    ) {
        self.calls = calls
        self.bandwidthKilobytes = bandwidthKilobytes
        self.renewalPeriodSeconds = renewalPeriodSeconds
        self.counter = counter
        self.location = location
    }
}
