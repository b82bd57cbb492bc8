import GatewayModel

/// A representative gateway: two products with budgets, PTU + pay-as-you-go backends in a priority
/// pool with circuit breakers, managed identity, Event Hub logger, Application Insights, the
/// runtime, fragments, and named values of all three kinds.
enum SampleGateway {
    static let breaker = CircuitBreaker(
        name: "openai-throttling", failureCount: 3, intervalSeconds: 60,
        statusCodeRanges: [429...429, 500...599], tripDurationSeconds: 30, acceptRetryAfter: true)

    static var gateway: Gateway {
        Gateway(
            name: "Contoso AI Gateway",
            service: APIMService(
                name: "contoso-ai-apim", sku: .standardV2, publisherEmail: "platform@contoso.com",
                publisherName: "Contoso Platform"),
            runtime: RuntimeEndpoint(url: "https://tollgate.internal.contoso.com", image: "ghcr.io/contoso/tollgate-runtime:1.0.0"),
            namedValues: [
                NamedValue(name: "tenant-id", value: .plain("72f988bf-86f1-41af-91ab-2d7cd011db47"), tags: ["entra"]),
                NamedValue(name: "partner-api-key", value: .secret),
                NamedValue(
                    name: "contoso-signing-key",
                    value: .keyVault(secretIdentifier: "https://contoso-kv.vault.azure.net/secrets/signing-key", identityClientId: nil)),
            ],
            backends: [
                Backend(
                    id: "aoai-ptu-eastus", url: "https://contoso-ptu-eastus.openai.azure.com/openai",
                    description: "Provisioned throughput (primary)", circuitBreaker: breaker,
                    deployment: AzureOpenAIDeployment(name: "gpt-4o-ptu", model: "gpt-4o", modelVersion: "2024-08-06", sku: .provisionedManaged, capacity: 100)),
                Backend(
                    id: "aoai-paygo-swedencentral", url: "https://contoso-paygo-sweden.openai.azure.com/openai",
                    description: "Pay-as-you-go spillover", circuitBreaker: breaker,
                    deployment: AzureOpenAIDeployment(name: "gpt-4o", model: "gpt-4o", modelVersion: "2024-08-06", sku: .globalStandard, capacity: 250)),
                Backend(
                    id: "aoai-paygo-embeddings", url: "https://contoso-paygo-sweden.openai.azure.com/openai",
                    deployment: AzureOpenAIDeployment(name: "text-embedding-3-large", model: "text-embedding-3-large", modelVersion: "1", sku: .standard, capacity: 120)),
            ],
            backendPools: [
                BackendPool(id: "aoai-pool", description: "PTU first, pay-as-you-go when it throttles", members: [
                    .init(backendId: "aoai-ptu-eastus", priority: 1, weight: 100),
                    .init(backendId: "aoai-paygo-swedencentral", priority: 2, weight: 100),
                ]),
            ],
            apis: [
                API(id: "azure-openai", displayName: "Azure OpenAI", path: "openai", apiVersion: "2024-10-21",
                    backend: .pool("aoai-pool"), authentication: ManagedIdentityAuth()),
                API(id: "embeddings", displayName: "Embeddings", path: "embeddings", apiVersion: "2024-10-21",
                    backend: .backend("aoai-paygo-embeddings"), authentication: ManagedIdentityAuth()),
            ],
            products: [
                Product(
                    id: "team-alpha", displayName: "Team Alpha", description: "Research team", apis: ["azure-openai", "embeddings"],
                    subscriptions: [Subscription(id: "alpha-app", displayName: "Alpha app"), Subscription(id: "alpha-batch", owner: "alice")],
                    budgets: [Budget(amount: Money(500), period: .monthly)],
                    tokenLimits: [TokenLimit(tokensPerMinute: 50_000)]),
                Product(
                    id: "team-beta", displayName: "Team Beta", approvalRequired: true, apis: ["azure-openai"],
                    subscriptions: [Subscription(id: "beta-app")],
                    budgets: [Budget(amount: Money(100), period: .daily, enforcement: .soft)]),
            ],
            fragments: [
                PolicyFragment(id: "tollgate-check", description: "Budget check callout", policies: [
                    PlacedPolicy(.includeFragment("tollgate-auth")),
                ]),
                PolicyFragment(id: "tollgate-auth", description: "Managed identity to Azure OpenAI", policies: []),
            ],
            loggers: [
                Logger(id: "usage-eventhub", kind: .eventHub(namespace: "contoso-ai-usage", hub: "usage")),
                Logger(id: "appinsights", kind: .applicationInsights(
                    connectionStringNamedValue: "appinsights-connection-string",
                    metrics: TokenMetrics(dimensions: [.init(name: "API ID"), .init(name: "Subscription ID")]))),
            ],
            provisionedDeployments: [
                ProvisionedDeployment(deployment: "gpt-4o-ptu", backendId: "aoai-ptu-eastus", targetUtilizationPercent: 80),
            ])
    }
}
