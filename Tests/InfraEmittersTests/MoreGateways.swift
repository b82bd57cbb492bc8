import GatewayModel
import InfraEmitters

/// An existing APIM instance in another resource group; the runtime runs elsewhere (not deployed).
enum ExistingServiceGateway {
    static let options = InfrastructureOptions(deployRuntime: false)

    static var gateway: Gateway {
        Gateway(
            name: "fabrikam",
            service: APIMService(name: "fabrikam-apim", existing: true, resourceGroup: "rg-shared-apim", sku: .premium),
            runtime: RuntimeEndpoint(url: "https://tollgate.fabrikam.net"),
            backends: [
                Backend(id: "openai", url: "https://fabrikam-openai.openai.azure.com/openai",
                        circuitBreaker: CircuitBreaker(failureCount: 5, intervalSeconds: 10, statusCodeRanges: [429...429], tripDurationSeconds: 90)),
            ],
            apis: [API(id: "openai", path: "openai", apiVersion: "2024-10-21", backend: .backend("openai"))],
            products: [Product(id: "default", apis: ["openai"], subscriptions: [Subscription(id: "default-key")])])
    }
}

/// `products` products over `apis` APIs, for the size limits and the benchmark.
enum LargeGateway {
    static func make(products: Int, apis: Int) -> Gateway {
        let apiList = (1...apis).map { API(id: "api-\($0)", path: "openai\($0)", apiVersion: "2024-10-21", backend: .pool("pool")) }
        return Gateway(
            name: "large",
            service: APIMService(name: "large-apim", publisherEmail: "ops@example.com", publisherName: "Ops"),
            runtime: RuntimeEndpoint(url: "https://tollgate.example.com"),
            backends: [
                Backend(id: "ptu", url: "https://large-ptu.openai.azure.com/openai", circuitBreaker: SampleGateway.breaker,
                        deployment: AzureOpenAIDeployment(name: "gpt-4o", model: "gpt-4o", modelVersion: "2024-08-06", sku: .globalProvisionedManaged, capacity: 50)),
                Backend(id: "paygo", url: "https://large-paygo.openai.azure.com/openai", circuitBreaker: SampleGateway.breaker,
                        deployment: AzureOpenAIDeployment(name: "gpt-4o", model: "gpt-4o", modelVersion: "2024-08-06", sku: .dataZoneStandard, capacity: 100)),
            ],
            backendPools: [BackendPool(id: "pool", members: [.init(backendId: "ptu", priority: 1), .init(backendId: "paygo", priority: 2)])],
            apis: apiList,
            products: (1...products).map { index in
                Product(id: "product-\(index)", apis: apiList.map(\.id), subscriptions: [Subscription(id: "sub-\(index)")],
                        budgets: [Budget(amount: Money(100), period: .monthly)])
            })
    }
}
