/// A logging target the gateway writes to.
public struct Logger: Codable, Sendable, Hashable {
    public enum Kind: Codable, Sendable, Hashable {
        /// An Event Hub logger; usage records are written with `log-to-eventhub`.
        case eventHub(namespace: String, hub: String)
        /// Application Insights; token metrics are emitted with `azure-openai-emit-token-metric`.
        case applicationInsights(connectionStringNamedValue: String, metrics: TokenMetrics)
    }

    /// APIM logger id referenced by the policies.
    public var id: String
    public var kind: Kind
    @Located public var location: SourceLocation?

    public init(id: String, kind: Kind, location: SourceLocation? = nil) {
        self.id = id
        self.kind = kind
        self.location = location
    }
}

/// Token metrics emitted to Application Insights.
public struct TokenMetrics: Codable, Sendable, Hashable {
    public struct Dimension: Codable, Sendable, Hashable {
        public var name: String
        /// nil for APIM's built-in dimensions (`API ID`, `Subscription ID`, …).
        public var value: String?

        public init(name: String, value: String? = nil) {
            self.name = name
            self.value = value
        }
    }

    public var namespace: String
    public var dimensions: [Dimension]
    public var flavor: TokenPolicyFlavor

    public init(namespace: String = "openai", dimensions: [Dimension], flavor: TokenPolicyFlavor = .azureOpenAI) {
        self.namespace = namespace
        self.dimensions = dimensions
        self.flavor = flavor
    }
}
