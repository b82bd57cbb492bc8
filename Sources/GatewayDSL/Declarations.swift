import Foundation
import GatewayModel

// MARK: Gateway

extension Gateway {
    /// A whole gateway, declared as a block:
    ///
    ///     let contoso = Gateway("contoso", service: .existing("apim-contoso")) {
    ///         Runtime(url: "https://tollgate.internal.contoso.com")
    ///         Product("team-a") { Budget(.monthly, 500.usd) }
    ///     }
    public init(
        _ name: String, service: APIMService, fileID: String = #fileID, line: Int = #line,
        @GatewayBuilder _ content: () -> [any GatewayComponent]
    ) {
        self.init(name: name, service: service, location: SourceLocation(fileID: fileID, line: line))
        for component in content() { component.apply(to: &self) }
    }
}

extension APIMService {
    /// An APIM instance that already exists; the infrastructure only references it.
    public static func existing(_ name: String, resourceGroup: String? = nil) -> APIMService {
        APIMService(name: name, existing: true, resourceGroup: resourceGroup)
    }

    /// An APIM instance the infrastructure creates.
    public static func create(
        _ name: String, sku: SKU = .standardV2, location: String? = nil, publisherEmail: String, publisherName: String
    ) -> APIMService {
        APIMService(name: name, location: location, sku: sku, publisherEmail: publisherEmail, publisherName: publisherName)
    }
}

/// The Tollgate runtime the policies call for budgets, usage and streaming.
public typealias Runtime = RuntimeEndpoint

extension RuntimeEndpoint: GatewayComponent {
    public init(
        url: String, failureMode: FailureMode = .open, decisionCacheSeconds: Int = 10, relayStreaming: Bool = true,
        image: String = "ghcr.io/contoso/tollgate-runtime:latest", fileID: String = #fileID, line: Int = #line
    ) {
        self.init(
            url: url, decisionCacheSeconds: decisionCacheSeconds, failureMode: failureMode, relayStreaming: relayStreaming,
            image: image, location: SourceLocation(fileID: fileID, line: line))
    }

    public func apply(to gateway: inout Gateway) { gateway.runtime = self }
}

extension NamedValue: GatewayComponent {
    public init(_ name: String, _ value: Value, fileID: String = #fileID, line: Int = #line) {
        self.init(name: name, value: value, location: SourceLocation(fileID: fileID, line: line))
    }

    public func apply(to gateway: inout Gateway) { gateway.namedValues.append(self) }
}

extension Backend: GatewayComponent {
    /// A single backend, e.g. one Azure OpenAI endpoint.
    public init(
        _ id: String, url: String, deployment: AzureOpenAIDeployment? = nil, circuitBreaker: CircuitBreaker? = nil,
        description: String? = nil, fileID: String = #fileID, line: Int = #line
    ) {
        self.init(
            id: id, url: url, description: description, circuitBreaker: circuitBreaker, deployment: deployment,
            location: SourceLocation(fileID: fileID, line: line))
    }

    public func apply(to gateway: inout Gateway) { gateway.backends.append(self) }
}

extension CircuitBreaker {
    /// Trip after `failures` responses with the given status codes within `interval` seconds, for `tripFor` seconds.
    public static func trip(
        after failures: Int, within interval: Int, on statusCodes: [ClosedRange<Int>] = [429...429, 500...599], for tripFor: Int,
        acceptRetryAfter: Bool = true
    ) -> CircuitBreaker {
        CircuitBreaker(
            failureCount: failures, intervalSeconds: interval, statusCodeRanges: statusCodes, tripDurationSeconds: tripFor,
            acceptRetryAfter: acceptRetryAfter)
    }
}

extension BackendPool: GatewayComponent {
    /// A load-balanced pool: lower priority numbers are used first, weights split traffic within a priority.
    public init(
        _ id: String, description: String? = nil, fileID: String = #fileID, line: Int = #line,
        @ComponentBuilder<BackendPool.Member> _ members: () -> [BackendPool.Member]
    ) {
        self.init(id: id, description: description, members: members(), location: SourceLocation(fileID: fileID, line: line))
    }

    public func apply(to gateway: inout Gateway) { gateway.backendPools.append(self) }
}

/// A backend in a pool.
public func Member(_ backendId: String, priority: Int = 1, weight: Int = 1, fileID: String = #fileID, line: Int = #line) -> BackendPool.Member {
    BackendPool.Member(backendId: backendId, priority: priority, weight: weight, location: SourceLocation(fileID: fileID, line: line))
}

extension Logger: GatewayComponent {
    public func apply(to gateway: inout Gateway) { gateway.loggers.append(self) }
}

/// An Event Hub logger; APIs write usage records to it with `UsageLog(to:)`.
public func EventHubLogger(_ id: String, namespace: String, hub: String, fileID: String = #fileID, line: Int = #line) -> Logger {
    Logger(id: id, kind: .eventHub(namespace: namespace, hub: hub), location: SourceLocation(fileID: fileID, line: line))
}

/// An Application Insights logger with the token metrics APIs emit to it.
public func ApplicationInsightsLogger(
    _ id: String, connectionStringNamedValue: String, metrics: TokenMetrics, fileID: String = #fileID, line: Int = #line
) -> Logger {
    Logger(
        id: id, kind: .applicationInsights(connectionStringNamedValue: connectionStringNamedValue, metrics: metrics),
        location: SourceLocation(fileID: fileID, line: line))
}

extension ProvisionedDeployment: GatewayComponent {
    public func apply(to gateway: inout Gateway) { gateway.provisionedDeployments.append(self) }
}

/// Lets batch jobs use a provisioned deployment while its utilization is under `targetUtilization` percent.
public func ProvisionedThroughput(
    deployment: String, backend: String, targetUtilization: Int, fileID: String = #fileID, line: Int = #line
) -> ProvisionedDeployment {
    ProvisionedDeployment(
        deployment: deployment, backendId: backend, targetUtilizationPercent: targetUtilization,
        location: SourceLocation(fileID: fileID, line: line))
}

extension PricingTable: GatewayComponent {
    public func apply(to gateway: inout Gateway) { gateway.pricing = self }
}

extension PolicyFragment: GatewayComponent {
    /// A reusable fragment, included with `.includeFragment(id)`.
    public init(
        _ id: String, description: String? = nil, fileID: String = #fileID, line: Int = #line,
        @PolicyBuilder<FragmentContext> _ policies: () -> [PlacedPolicy]
    ) {
        self.init(id: id, description: description, policies: policies(), location: SourceLocation(fileID: fileID, line: line))
    }

    public func apply(to gateway: inout Gateway) { gateway.fragments.append(self) }
}

/// A policy fragment.
public typealias Fragment = PolicyFragment

// MARK: APIs

extension API: GatewayComponent {
    /// The Azure OpenAI inference API published under `path`.
    public init(
        _ id: String, displayName: String? = nil, path: String, apiVersion: String, backend: BackendTarget,
        fileID: String = #fileID, line: Int = #line, @APIBuilder _ content: () -> [any APIComponent] = { [] }
    ) {
        self.init(
            id: id, displayName: displayName, path: path, apiVersion: apiVersion, backend: backend,
            location: SourceLocation(fileID: fileID, line: line))
        for component in content() { component.apply(to: &self) }
    }

    public func apply(to gateway: inout Gateway) { gateway.apis.append(self) }
}

extension ManagedIdentityAuth: APIComponent {
    public func apply(to api: inout API) { api.authentication = self }
}

/// Authenticate to the backend with APIM's system-assigned or a user-assigned managed identity.
public func ManagedIdentity(
    clientId: String? = nil, resource: String = "https://cognitiveservices.azure.com"
) -> ManagedIdentityAuth {
    ManagedIdentityAuth(identity: clientId.map { .userAssigned(clientId: $0) } ?? .systemAssigned, resource: resource)
}

extension ThrottleRetry: APIComponent {
    public func apply(to api: inout API) { api.retry = self }
}

/// Retry 429/503 responses, waiting what `Retry-After` asks (capped).
public func RetryThrottled(count: Int = 2, maxWait: Int = 10) -> ThrottleRetry {
    ThrottleRetry(count: count, maxWaitSeconds: maxWait)
}

/// An API setting that names a logger.
public struct LoggerReference: APIComponent {
    enum Use { case tokenMetrics, usage }
    let use: Use
    let logger: String

    public func apply(to api: inout API) {
        switch use {
        case .tokenMetrics: api.tokenMetricsLogger = logger
        case .usage: api.usageLogger = logger
        }
    }
}

/// Emit token metrics to the Application Insights logger `logger`.
public func EmitTokenMetrics(to logger: String) -> LoggerReference { LoggerReference(use: .tokenMetrics, logger: logger) }

/// Write one usage record per call to the Event Hub logger `logger`.
public func UsageLog(to logger: String) -> LoggerReference { LoggerReference(use: .usage, logger: logger) }

// MARK: Products

extension Product: GatewayComponent {
    /// A product with its budgets, limits, subscriptions and APIs.
    public init(
        _ id: String, displayName: String? = nil, description: String? = nil, subscriptionRequired: Bool = true,
        approvalRequired: Bool = false, state: State = .published, defaultEstimatedTokens: Int = 1000,
        fileID: String = #fileID, line: Int = #line, @ProductBuilder _ content: () -> [any ProductComponent]
    ) {
        self.init(
            id: id, displayName: displayName, description: description, subscriptionRequired: subscriptionRequired,
            approvalRequired: approvalRequired, state: state, defaultEstimatedTokens: defaultEstimatedTokens,
            location: SourceLocation(fileID: fileID, line: line))
        for component in content() { component.apply(to: &self) }
    }

    public func apply(to gateway: inout Gateway) { gateway.products.append(self) }
}

/// Adds APIs to a product.
public struct Includes: ProductComponent {
    let apis: [String]

    public init(_ apis: String...) { self.apis = apis }

    public func apply(to product: inout Product) { product.apis += apis }
}

extension Subscription: ProductComponent {
    public init(_ id: String, displayName: String? = nil, owner: String? = nil, fileID: String = #fileID, line: Int = #line) {
        self.init(id: id, displayName: displayName, owner: owner, location: SourceLocation(fileID: fileID, line: line))
    }

    public func apply(to product: inout Product) { product.subscriptions.append(self) }
}

extension Budget: ProductComponent {
    /// A spend limit: `Budget(.monthly, 500.usd)`.
    public init(
        _ period: Period, _ amount: Money, scope: Scope = .product, enforcement: Enforcement = .hard,
        alertThresholds: [Int] = [50, 80, 100], fileID: String = #fileID, line: Int = #line
    ) {
        self.init(
            amount: amount, period: period, scope: scope, enforcement: enforcement, alertThresholds: alertThresholds,
            location: SourceLocation(fileID: fileID, line: line))
    }

    public func apply(to product: inout Product) { product.budgets.append(self) }
}

extension TokenLimit: ProductComponent {
    /// A token rate limit and/or quota: `TokenLimit(perMinute: 20_000, counter: .subscription)`.
    public init(
        perMinute: Int? = nil, quota: Int? = nil, period: QuotaPeriod? = nil, counter: CounterKey = .subscription,
        estimatePromptTokens: Bool = true, flavor: TokenPolicyFlavor = .azureOpenAI, fileID: String = #fileID, line: Int = #line
    ) {
        self.init(
            tokensPerMinute: perMinute, tokenQuota: quota, tokenQuotaPeriod: period, counter: counter,
            estimatePromptTokens: estimatePromptTokens, flavor: flavor,
            remainingQuotaTokensHeader: quota == nil ? nil : "x-quota-remaining-tokens",
            location: SourceLocation(fileID: fileID, line: line))
    }

    public func apply(to product: inout Product) { product.tokenLimits.append(self) }
}

extension RateLimit: ProductComponent {
    /// At most `calls` requests per `seconds` (sliding window, ≤ 300 s) per counter key.
    public init(calls: Int, per seconds: Int, counter: CounterKey = .subscription, fileID: String = #fileID, line: Int = #line) {
        self.init(calls: calls, renewalPeriodSeconds: seconds, counter: counter, location: SourceLocation(fileID: fileID, line: line))
    }

    public func apply(to product: inout Product) { product.rateLimits.append(self) }
}

extension Quota: ProductComponent {
    /// At most `calls` requests (and/or `kilobytes`) per renewal period per counter key.
    public init(
        calls: Int? = nil, kilobytes: Int? = nil, per seconds: Int, counter: CounterKey = .subscription,
        fileID: String = #fileID, line: Int = #line
    ) {
        self.init(
            calls: calls, bandwidthKilobytes: kilobytes, renewalPeriodSeconds: seconds, counter: counter,
            location: SourceLocation(fileID: fileID, line: line))
    }

    public func apply(to product: inout Product) { product.quotas.append(self) }
}

// MARK: Money

extension Int {
    /// This many US dollars: `500.usd`.
    public var usd: Money { Money(Decimal(self)) }
}

extension Double {
    /// This many US dollars, taken from the literal's decimal digits: `12.5.usd`.
    public var usd: Money { Money(Decimal(string: String(self), locale: Locale(identifier: "en_US_POSIX")) ?? Decimal(self)) }
}

// MARK: Declared documents

extension PolicyDocumentDeclaration: GatewayComponent {
    public func apply(to gateway: inout Gateway) { gateway.policyDocuments.append(self) }
}

/// A `<policies>` document emitted exactly as declared at `policies/<path>` (how `tollgate import`
/// brings existing files in). Sections appear in the order given; an empty block gives `<section />`.
public func Document(
    _ path: String, scope: String? = nil, leadingComments: [String] = [], fileID: String = #fileID, line: Int = #line,
    @ComponentBuilder<SectionPolicies> _ sections: () -> [SectionPolicies]
) -> PolicyDocumentDeclaration {
    PolicyDocumentDeclaration(
        path: path, scope: scope,
        body: .policies(sections().map { DeclaredSection(section: $0.section, policies: $0.policies) }),
        leadingComments: leadingComments, location: SourceLocation(fileID: fileID, line: line))
}

/// A `<fragment>` emitted exactly as declared at `policies/<path>`.
public func FragmentDocument(
    _ path: String, leadingComments: [String] = [], fileID: String = #fileID, line: Int = #line,
    @PolicyBuilder<FragmentContext> _ policies: () -> [PlacedPolicy]
) -> PolicyDocumentDeclaration {
    PolicyDocumentDeclaration(
        path: path, scope: nil, body: .fragment(policies()), leadingComments: leadingComments,
        location: SourceLocation(fileID: fileID, line: line))
}
