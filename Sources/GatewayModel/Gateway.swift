/// A whole API Management gateway in front of Azure OpenAI: the root of the model.
///
/// Every other output (policy XML, Bicep, Terraform, runtime configuration) is derived from one
/// `Gateway` value, so they cannot disagree about names, budgets or URLs.
public struct Gateway: Codable, Sendable, Hashable {
    public var name: String
    public var service: APIMService
    public var runtime: RuntimeEndpoint?
    public var namedValues: [NamedValue]
    public var backends: [Backend]
    public var backendPools: [BackendPool]
    public var apis: [API]
    public var products: [Product]
    public var fragments: [PolicyFragment]
    public var loggers: [Logger]
    /// Policies at global (all APIs) scope, beyond what the typed settings generate.
    public var globalPolicies: PolicySections
    public var pricing: PricingTable
    public var provisionedDeployments: [ProvisionedDeployment]
    /// Policy documents emitted as declared (hand-written or imported).
    public var policyDocuments: [PolicyDocumentDeclaration]
    @Located public var location: SourceLocation?

    public init(
        name: String,
        service: APIMService,
        runtime: RuntimeEndpoint? = nil,
        namedValues: [NamedValue] = [],
        backends: [Backend] = [],
        backendPools: [BackendPool] = [],
        apis: [API] = [],
        products: [Product] = [],
        fragments: [PolicyFragment] = [],
        loggers: [Logger] = [],
        globalPolicies: PolicySections = PolicySections(),
        pricing: PricingTable = .azureOpenAIDefault,
        provisionedDeployments: [ProvisionedDeployment] = [],
        policyDocuments: [PolicyDocumentDeclaration] = [],
        location: SourceLocation? = nil
    ) {
        self.name = name
        self.service = service
        self.runtime = runtime
        self.namedValues = namedValues
        self.backends = backends
        self.backendPools = backendPools
        self.apis = apis
        self.products = products
        self.fragments = fragments
        self.loggers = loggers
        self.globalPolicies = globalPolicies
        self.pricing = pricing
        self.provisionedDeployments = provisionedDeployments
        self.policyDocuments = policyDocuments
        self.location = location
    }
}

/// The API Management instance the gateway is deployed to.
public struct APIMService: Codable, Sendable, Hashable {
    public enum SKU: String, Codable, Sendable, CaseIterable {
        case developer = "Developer", basic = "Basic", standard = "Standard", premium = "Premium"
        case basicV2 = "BasicV2", standardV2 = "StandardV2", premiumV2 = "PremiumV2", consumption = "Consumption"
    }

    /// Resource name of the APIM service.
    public var name: String
    /// True when the service already exists and is only referenced, never created.
    public var existing: Bool
    public var resourceGroup: String?
    public var location: String?
    public var sku: SKU
    public var publisherEmail: String?
    public var publisherName: String?

    public init(
        name: String, existing: Bool = false, resourceGroup: String? = nil, location: String? = nil,
        sku: SKU = .standardV2, publisherEmail: String? = nil, publisherName: String? = nil
    ) {
        self.name = name
        self.existing = existing
        self.resourceGroup = resourceGroup
        self.location = location
        self.sku = sku
        self.publisherEmail = publisherEmail
        self.publisherName = publisherName
    }
}

/// Where the generated policies reach the Tollgate runtime service.
public struct RuntimeEndpoint: Codable, Sendable, Hashable {
    /// Base URL of the runtime, e.g. `https://tollgate.internal.contoso.com`.
    public var url: String
    /// Named value holding the URL (policies reference `{{urlNamedValue}}`).
    public var urlNamedValue: String
    /// Secret named value holding the gateway key sent as `X-Tollgate-Key`.
    public var keyNamedValue: String
    /// How long APIM caches an allow decision per subscription, in seconds (0 disables caching).
    public var decisionCacheSeconds: Int
    /// Timeout of the budget callout, in seconds.
    public var timeoutSeconds: Int
    /// What the gateway does when the runtime cannot be reached.
    public var failureMode: FailureMode
    /// Route `"stream": true` requests through the runtime relay for exact accounting.
    public var relayStreaming: Bool
    /// Container image that runs the runtime (used by the infrastructure emitters).
    public var image: String
    @Located public var location: SourceLocation?

    public enum FailureMode: String, Codable, Sendable, CaseIterable {
        /// Let the request through (availability first).
        case open
        /// Deny the request with 503 (budget first).
        case closed
    }

    public init(
        url: String, urlNamedValue: String = "tollgate-runtime-url", keyNamedValue: String = "tollgate-gateway-key",
        decisionCacheSeconds: Int = 10, timeoutSeconds: Int = 5, failureMode: FailureMode = .open,
        relayStreaming: Bool = true, image: String = "ghcr.io/contoso/tollgate-runtime:latest",
        location: SourceLocation? = nil
    ) {
        self.url = url
        self.urlNamedValue = urlNamedValue
        self.keyNamedValue = keyNamedValue
        self.decisionCacheSeconds = decisionCacheSeconds
        self.timeoutSeconds = timeoutSeconds
        self.failureMode = failureMode
        self.relayStreaming = relayStreaming
        self.image = image
        self.location = location
    }
}

/// An APIM named value: a plain string, a secret, or a reference to a Key Vault secret.
public struct NamedValue: Codable, Sendable, Hashable {
    public enum Value: Codable, Sendable, Hashable {
        case plain(String)
        /// A secret whose value is supplied at deployment time (never written to generated files).
        case secret
        /// A Key Vault secret identifier, read by APIM's managed identity.
        case keyVault(secretIdentifier: String, identityClientId: String?)
    }

    public var name: String
    public var value: Value
    public var tags: [String]
    @Located public var location: SourceLocation?

    public init(name: String, value: Value, tags: [String] = [], location: SourceLocation? = nil) {
        self.name = name
        self.value = value
        self.tags = tags
        self.location = location
    }

    public var isSecret: Bool {
        if case .plain = value { return false }
        return true
    }
}
