import GatewayDSL
import GatewayModel

/// Small gateways, each exercising one kind of generated policy. Their output is compared with
/// the golden files in `Golden/`.
enum Fixtures {
    static let service = APIMService.existing("apim-test", resourceGroup: "rg-test")

    static func api(_ backend: BackendTarget = .backend("aoai")) -> API {
        API("openai", path: "openai", apiVersion: "2024-10-21", backend: backend) {}
    }

    static let aoai = Backend("aoai", url: "https://test.openai.azure.com/openai")

    static let all: [(name: String, gateway: Gateway)] = [
        ("token-and-rate-limits", Gateway("limits", service: service) {
            aoai
            api()
            Product("limits", displayName: "Limits") {
                Includes("openai")
                TokenLimit(perMinute: 10_000, counter: .subscription)
                TokenLimit(quota: 1_000_000, period: .daily, counter: .ipAddress, flavor: .llm)
                RateLimit(calls: 60, per: 60, counter: .expression("@(context.Request.Headers.GetValueOrDefault(\"x-team\", \"none\"))"))
                Quota(calls: 10_000, kilobytes: 50_000, per: 86_400, counter: .product)
            }
        }),
        ("managed-identity-and-pool", Gateway("pool", service: service) {
            Backend("ptu", url: "https://ptu.openai.azure.com/openai", circuitBreaker: .trip(after: 3, within: 60, for: 30))
            Backend("paygo", url: "https://paygo.openai.azure.com/openai")
            BackendPool("aoai-pool") {
                Member("ptu", priority: 1)
                Member("paygo", priority: 2, weight: 3)
            }
            API("openai", path: "openai", apiVersion: "2024-10-21", backend: .pool("aoai-pool")) {
                ManagedIdentity(clientId: "11111111-2222-3333-4444-555555555555")
                RetryThrottled(count: 3, maxWait: 20)
            }
        }),
        ("budget-callouts", Gateway("budgets", service: service) {
            Runtime(url: "https://tollgate.example.com", failureMode: .closed, decisionCacheSeconds: 0, relayStreaming: false)
            aoai
            api()
            Product("team", displayName: "Team") {
                Includes("openai")
                Budget(.weekly, 12.5.usd, scope: .subscription)
            }
        }),
        ("streaming-relay-and-cache", Gateway("relay", service: service) {
            Runtime(url: "https://tollgate.example.com")
            aoai
            api()
            Product("team") {
                Includes("openai")
                Budget(.total, 1_000.usd)
            }
        }),
        ("logging", Gateway("logging", service: service) {
            aoai
            EventHubLogger("hub", namespace: "evhns-test", hub: "usage")
            ApplicationInsightsLogger("ai", connectionStringNamedValue: "ai-connection", metrics: TokenMetrics(
                dimensions: [.init(name: "API ID"), .init(name: "Client IP", value: "@(context.Request.IpAddress)")], flavor: .llm))
            NamedValue("ai-connection", .secret)
            API("openai", path: "openai", apiVersion: "2024-10-21", backend: .backend("aoai")) {
                EmitTokenMetrics(to: "ai")
                UsageLog(to: "hub")
            }
        }),
        ("custom-policies", Gateway("custom", service: service) {
            aoai
            NamedValue("tenant", .plain("contoso.onmicrosoft.com"))
            Fragment("tag-request") {
                SetHeader("x-gateway", "tollgate", action: .skip)
            }
            BackendSection {
                RetryOn(condition: "@(context.Response.StatusCode >= 500)", count: 2, interval: 1, maxInterval: 8, delta: 2) {
                    CustomPolicy("forward-request", ["buffer-request-body": "true"])
                }
            }
            Inbound {
                Cors(origins: ["https://app.example.com"], expose: ["x-request-id"], allowCredentials: true, preflightMaxAge: 300)
            }
            API("openai", path: "openai", apiVersion: "2024-10-21", backend: .url("https://direct.openai.azure.com/openai")) {
                Inbound {
                    ValidateEntraToken(tenant: "{{tenant}}", audiences: ["api://gateway"], clientApplicationIds: ["app-1"], requiredClaims: ["roles": ["ai.user"]])
                    IncludeFragment("tag-request")
                    When("@(context.Request.Method == \"GET\")", then: {
                        CustomPolicy("return-response", children: [PolicyNode("set-status", attributes: [.init("code", "405"), .init("reason", "Method Not Allowed")])])
                    })
                }
                Outbound {
                    SetHeader("x-served-by", "@(context.Deployment.Region)")
                    CustomPolicy("set-body", text: "@{ return \"<ok/>\"; }")
                }
                OnError {
                    SetHeader("x-error", "@(context.LastError.Reason)", action: .override)
                }
            }
        }),
    ]
}
