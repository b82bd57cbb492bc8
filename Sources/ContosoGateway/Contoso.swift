import GatewayDSL

/// The example gateway: two teams on one Azure OpenAI API, a provisioned-throughput deployment
/// with pay-as-you-go spill-over, budgets enforced by the Tollgate runtime, and usage logging.
let contoso = Gateway("contoso", service: .existing("apim-contoso-ai", resourceGroup: "rg-contoso-ai")) {
    Runtime(url: "https://tollgate.internal.contoso.com", failureMode: .open, decisionCacheSeconds: 10)

    NamedValue("aoai-tenant-id", .plain("72f988bf-86f1-41af-91ab-2d7cd011db47"))
    NamedValue("appinsights-connection-string", .keyVault(
        secretIdentifier: "https://kv-contoso-ai.vault.azure.net/secrets/appinsights-connection-string", identityClientId: nil))

    Backend(
        "aoai-ptu", url: "https://contoso-ptu.openai.azure.com/openai",
        deployment: AzureOpenAIDeployment(name: "gpt-4o-ptu", model: "gpt-4o", modelVersion: "2024-11-20", sku: .provisionedManaged, capacity: 100),
        circuitBreaker: .trip(after: 3, within: 60, on: [429...429, 500...599], for: 30))
    Backend(
        "aoai-paygo", url: "https://contoso-paygo.openai.azure.com/openai",
        deployment: AzureOpenAIDeployment(name: "gpt-4o", model: "gpt-4o", modelVersion: "2024-11-20", sku: .globalStandard, capacity: 450),
        circuitBreaker: .trip(after: 5, within: 60, on: [429...429, 500...599], for: 20))
    BackendPool("aoai-pool", description: "PTU first, pay-as-you-go when the PTU deployment is saturated") {
        Member("aoai-ptu", priority: 1)
        Member("aoai-paygo", priority: 2)
    }
    ProvisionedThroughput(deployment: "gpt-4o-ptu", backend: "aoai-ptu", targetUtilization: 80)

    EventHubLogger("usage-hub", namespace: "evhns-contoso-ai", hub: "aoai-usage")
    ApplicationInsightsLogger(
        "appinsights", connectionStringNamedValue: "appinsights-connection-string",
        metrics: TokenMetrics(namespace: "openai", dimensions: [
            .init(name: "API ID"), .init(name: "Subscription ID"), .init(name: "Product ID"),
            .init(name: "Deployment", value: "@(context.Request.MatchedParameters.GetValueOrDefault(\"deployment-id\", \"\"))"),
        ]))

    Fragment("entra-caller", description: "Callers must present an Entra ID token for the Contoso tenant") {
        ValidateEntraToken(
            tenant: "{{aoai-tenant-id}}", audiences: ["api://contoso-ai-gateway"],
            clientApplicationIds: ["0f6e6a3c-4a8f-4d55-9d7e-3c1f2b9a7e10"])
    }

    API("azure-openai", displayName: "Azure OpenAI", path: "openai", apiVersion: "2024-10-21", backend: .pool("aoai-pool")) {
        ManagedIdentity()
        RetryThrottled(count: 2, maxWait: 10)
        EmitTokenMetrics(to: "appinsights")
        UsageLog(to: "usage-hub")
        Inbound {
            Cors(origins: ["https://chat.contoso.com"], methods: ["POST", "OPTIONS"], headers: ["Content-Type", "Authorization", "api-key"])
        }
    }

    Product("team-a", displayName: "Team A", description: "Customer support assistants") {
        Includes("azure-openai")
        Subscription("team-a-prod")
        Subscription("team-a-dev")
        Budget(.monthly, 500.usd, alertThresholds: [50, 80, 100])
        Budget(.daily, 40.usd, enforcement: .soft, alertThresholds: [80, 100])
        TokenLimit(perMinute: 20_000, counter: .subscription)
        RateLimit(calls: 120, per: 60, counter: .subscription)
    }

    Product("team-b", displayName: "Team B", description: "Internal research, Entra ID callers only", approvalRequired: true) {
        Includes("azure-openai")
        Subscription("team-b-research")
        Budget(.monthly, 2_000.usd, scope: .user, alertThresholds: [50, 90, 100])
        TokenLimit(perMinute: 50_000, quota: 5_000_000, period: .monthly, counter: .user)
        Quota(calls: 100_000, per: 2_592_000, counter: .subscription)
        Inbound {
            IncludeFragment("entra-caller")
        }
    }
}
