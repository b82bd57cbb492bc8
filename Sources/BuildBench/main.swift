import Foundation
import GatewayModel
import InfraEmitters
import PolicyCompiler

// `swift run -c release tollgate-bench-build [products] [apis] [--separate-apis]`: time a whole build
// (policy XML + runtime configuration + Bicep + Terraform) of a large generated gateway.
// Defaults: 1,000 products × 5 APIs (every product includes the same 5 APIs: 5,000 product–API
// links), the size issue #4 sets a 2 s budget for. `--separate-apis` gives every product its own
// 5 APIs instead (5,000 APIs, each with its own policy file).

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let productCount = arguments.first ?? 1_000
let apisPerProduct = arguments.dropFirst().first ?? 5
let separateAPIs = CommandLine.arguments.contains("--separate-apis")

func makeGateway() -> Gateway {
    let backends = [
        Backend(
            id: "aoai-ptu", url: "https://bench-ptu.openai.azure.com/openai",
            circuitBreaker: CircuitBreaker(failureCount: 3, intervalSeconds: 60, statusCodeRanges: [429...429, 500...599], tripDurationSeconds: 30),
            deployment: AzureOpenAIDeployment(name: "gpt-4o-ptu", model: "gpt-4o", modelVersion: "2024-11-20", sku: .provisionedManaged, capacity: 100)),
        Backend(
            id: "aoai-paygo", url: "https://bench-paygo.openai.azure.com/openai",
            circuitBreaker: CircuitBreaker(failureCount: 5, intervalSeconds: 60, statusCodeRanges: [429...429], tripDurationSeconds: 20),
            deployment: AzureOpenAIDeployment(name: "gpt-4o", model: "gpt-4o", modelVersion: "2024-11-20", sku: .globalStandard, capacity: 450)),
    ]
    let pool = BackendPool(id: "aoai-pool", members: [.init(backendId: "aoai-ptu", priority: 1), .init(backendId: "aoai-paygo", priority: 2)])
    var apis: [API] = []
    var products: [Product] = []
    func addAPI(_ id: String, path: String) {
        apis.append(API(id: id, path: path, apiVersion: "2024-10-21", backend: .pool("aoai-pool"), authentication: ManagedIdentityAuth()))
    }
    let shared = (0..<apisPerProduct).map { "api-\($0)" }
    if !separateAPIs {
        for (apiIndex, id) in shared.enumerated() { addAPI(id, path: "openai/\(apiIndex)") }
    }
    for index in 0..<productCount {
        var included = shared
        if separateAPIs {
            included = (0..<apisPerProduct).map { "api-\(index)-\($0)" }
            for (apiIndex, id) in included.enumerated() { addAPI(id, path: "openai/\(index)/\(apiIndex)") }
        }
        products.append(Product(
            id: "team-\(index)", apis: included, subscriptions: [Subscription(id: "team-\(index)-sub")],
            budgets: [Budget(amount: Money(Decimal(100 + index)), period: .monthly)],
            tokenLimits: [TokenLimit(tokensPerMinute: 10_000 + index)],
            rateLimits: [RateLimit(calls: 60, renewalPeriodSeconds: 60)]))
    }
    return Gateway(
        name: "bench", service: APIMService(name: "apim-bench", publisherEmail: "ops@example.com", publisherName: "Ops"),
        runtime: RuntimeEndpoint(url: "https://tollgate.example.com"), backends: backends, backendPools: [pool], apis: apis,
        products: products)
}

func seconds(_ start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

func apis(_ gateway: Gateway) -> Int { gateway.apis.count }

let gateway = makeGateway()
var best = (xml: Double.infinity, infrastructure: Double.infinity, total: Double.infinity)
var fileCount = 0, bytes = 0
for _ in 0..<3 {
    let start = ContinuousClock.now
    let compiled = GatewayCompiler().compile(gateway)
    let xmlTime = seconds(start)
    precondition(!compiled.hasErrors, "benchmark gateway has errors: \(compiled.diagnostics.prefix(3))")
    let infraStart = ContinuousClock.now
    let infrastructure = try InfrastructureEmitter.files(for: gateway)
    let infraTime = seconds(infraStart)
    let total = seconds(start)
    if total < best.total { best = (xmlTime, infraTime, total) }
    fileCount = compiled.files.count + infrastructure.count
    bytes = compiled.files.values.reduce(0) { $0 + $1.utf8.count } + infrastructure.values.reduce(0) { $0 + $1.utf8.count }
}
print("gateway: \(productCount) products × \(apisPerProduct) APIs\(separateAPIs ? " each" : " shared") → \(apis(gateway)) APIs, \(fileCount) files, \(bytes / 1024) KiB")
print(String(format: "policy XML + runtime config: %.3f s", best.xml))
print(String(format: "Bicep + Terraform:           %.3f s", best.infrastructure))
print(String(format: "whole build (best of 3):     %.3f s  (budget 2 s: %@)", best.total, best.total < 2 ? "met" : "NOT met"))
