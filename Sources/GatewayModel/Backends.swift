/// A single backend (an Azure OpenAI endpoint) with an optional circuit breaker.
public struct Backend: Codable, Sendable, Hashable {
    public var id: String
    /// Runtime URL, e.g. `https://contoso-ptu.openai.azure.com/openai`.
    public var url: String
    public var description: String?
    public var circuitBreaker: CircuitBreaker?
    /// The Azure OpenAI deployment behind it, used for PTU dispatch and the infrastructure.
    public var deployment: AzureOpenAIDeployment?
    @Located public var location: SourceLocation?

    public init(
        id: String, url: String, description: String? = nil, circuitBreaker: CircuitBreaker? = nil,
        deployment: AzureOpenAIDeployment? = nil, location: SourceLocation? = nil
    ) {
        self.id = id
        self.url = url
        self.description = description
        self.circuitBreaker = circuitBreaker
        self.deployment = deployment
        self.location = location
    }
}

/// A circuit breaker rule on a backend (APIM allows exactly one rule per backend).
public struct CircuitBreaker: Codable, Sendable, Hashable {
    public var name: String
    /// Trip after this many failures within `intervalSeconds`.
    public var failureCount: Int
    public var intervalSeconds: Int
    /// HTTP status ranges that count as failures, e.g. 429...429, 500...599.
    public var statusCodeRanges: [ClosedRange<Int>]
    /// How long the breaker stays open, in seconds.
    public var tripDurationSeconds: Int
    /// Honour the backend's `Retry-After` header for the trip duration.
    public var acceptRetryAfter: Bool

    public init(
        name: String = "default", failureCount: Int, intervalSeconds: Int, statusCodeRanges: [ClosedRange<Int>],
        tripDurationSeconds: Int, acceptRetryAfter: Bool = true
    ) {
        self.name = name
        self.failureCount = failureCount
        self.intervalSeconds = intervalSeconds
        self.statusCodeRanges = statusCodeRanges
        self.tripDurationSeconds = tripDurationSeconds
        self.acceptRetryAfter = acceptRetryAfter
    }
}

/// A load-balanced pool of backends with priority (lower first) and weight.
public struct BackendPool: Codable, Sendable, Hashable {
    public struct Member: Codable, Sendable, Hashable {
        public var backendId: String
        public var priority: Int
        public var weight: Int
        @Located public var location: SourceLocation?

        public init(backendId: String, priority: Int = 1, weight: Int = 1, location: SourceLocation? = nil) {
            self.backendId = backendId
            self.priority = priority
            self.weight = weight
            self.location = location
        }
    }

    public var id: String
    public var description: String?
    public var members: [Member]
    @Located public var location: SourceLocation?

    public init(id: String, description: String? = nil, members: [Member], location: SourceLocation? = nil) {
        self.id = id
        self.description = description
        self.members = members
        self.location = location
    }
}

/// An Azure OpenAI model deployment (standard or provisioned throughput).
public struct AzureOpenAIDeployment: Codable, Sendable, Hashable {
    public enum SKU: String, Codable, Sendable, CaseIterable {
        case standard = "Standard", globalStandard = "GlobalStandard", dataZoneStandard = "DataZoneStandard"
        case provisionedManaged = "ProvisionedManaged", globalProvisionedManaged = "GlobalProvisionedManaged"
        case dataZoneProvisionedManaged = "DataZoneProvisionedManaged"

        public var isProvisioned: Bool {
            switch self {
            case .provisionedManaged, .globalProvisionedManaged, .dataZoneProvisionedManaged: true
            default: false
            }
        }
    }

    /// Deployment name (the `{deployment}` path segment).
    public var name: String
    /// Model name, e.g. `gpt-4o`.
    public var model: String
    public var modelVersion: String
    public var sku: SKU
    /// PTUs for provisioned SKUs, thousands of tokens per minute for standard SKUs.
    public var capacity: Int

    public init(name: String, model: String, modelVersion: String, sku: SKU, capacity: Int) {
        self.name = name
        self.model = model
        self.modelVersion = modelVersion
        self.sku = sku
        self.capacity = capacity
    }
}

/// A provisioned-throughput deployment whose spare capacity batch jobs may use.
public struct ProvisionedDeployment: Codable, Sendable, Hashable {
    public var deployment: String
    public var backendId: String
    /// Dispatch batch jobs only while utilization is under this percentage (0–100).
    public var targetUtilizationPercent: Int
    @Located public var location: SourceLocation?

    public init(deployment: String, backendId: String, targetUtilizationPercent: Int, location: SourceLocation? = nil) {
        self.deployment = deployment
        self.backendId = backendId
        self.targetUtilizationPercent = targetUtilizationPercent
        self.location = location
    }
}

/// Where an API sends its requests.
public enum BackendTarget: Codable, Sendable, Hashable {
    case backend(String)
    case pool(String)
    case url(String)
}
