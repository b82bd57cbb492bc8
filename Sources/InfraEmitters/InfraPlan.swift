import Foundation
import GatewayModel

/// The gateway, checked and normalised for the emitters: references resolved, derived resources
/// (Azure OpenAI accounts, Event Hub namespaces, generated named values) collected in model order.
struct InfraPlan: Sendable {
    struct OpenAIAccount: Sendable, Hashable {
        var name: String
        var deployments: [AzureOpenAIDeployment]
        /// Key authentication is turned off unless an API reaches this account without managed identity.
        var disableLocalAuth = true
    }

    struct EventHubNamespace: Sendable, Hashable {
        var name: String
        var hubs: [String]
    }

    struct EventHubLogger: Sendable, Hashable {
        var id: String
        var namespace: String
        var hub: String
    }

    struct AppInsightsLogger: Sendable, Hashable {
        var id: String
        var namedValue: String
        /// Name suffix of the Application Insights component created for it; nil when the user
        /// declared the connection-string named value (bring-your-own Application Insights).
        var componentSuffix: String?
    }

    /// A named value the emitters add on their own (runtime URL, gateway key, App Insights connection).
    enum GeneratedNamedValue: Sendable, Hashable {
        case runtimeURL(name: String)
        case gatewayKey(name: String)
        case appInsightsConnectionString(name: String, componentSuffix: String)

        var name: String {
            switch self {
            case .runtimeURL(let name), .gatewayKey(let name), .appInsightsConnectionString(let name, _): name
            }
        }
    }

    static let apimAPIVersion = "2024-05-01"
    static let openAIUserRoleId = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"
    static let eventHubsDataSenderRoleId = "2b629674-e913-4c01-ae53-ef4638d8f975"
    static let monitoringReaderRoleId = "43d0d8ad-25c7-4714-9337-8ba259a9fe05"
    /// SKUs `Microsoft.ApiManagement/service@2024-05-01` accepts.
    static let supportedSKUs: [APIMService.SKU] = [
        .developer, .basic, .standard, .premium, .consumption, .basicV2, .standardV2,
    ]

    let gateway: Gateway
    let options: InfrastructureOptions
    /// Lower-case base for derived resource names (runtime, workspace, …).
    let baseName: String
    let namedValues: [NamedValue]
    let generatedNamedValues: [GeneratedNamedValue]
    let backends: [Backend]
    let pools: [BackendPool]
    let apis: [API]
    let products: [Product]
    let fragments: [PolicyFragment]
    let eventHubLoggers: [EventHubLogger]
    let appInsightsLoggers: [AppInsightsLogger]
    let eventHubNamespaces: [EventHubNamespace]
    let openAIAccounts: [OpenAIAccount]
    /// The runtime when the infrastructure deploys it as a Container App.
    let deployedRuntime: RuntimeEndpoint?

    var service: APIMService { gateway.service }
    var needsWorkspace: Bool { deployedRuntime != nil || appInsightsLoggers.contains { $0.componentSuffix != nil } }
    var hasLoggers: Bool { !eventHubLoggers.isEmpty || !appInsightsLoggers.isEmpty }
    var hasBackends: Bool { !backends.isEmpty || !pools.isEmpty }
    /// The deployed runtime's identity gets Cognitive Services OpenAI User on every account, so its
    /// batch calls can use a managed-identity token (`TOLLGATE_BACKEND_MANAGED_IDENTITY=on`).
    var runtimeUsesManagedIdentity: Bool { deployedRuntime != nil && !openAIAccounts.isEmpty }
    /// Provisioned deployments the deployed runtime's coarse PTU gate watches through Azure Monitor
    /// (`TOLLGATE_PTU_METRICS_RESOURCE_IDS`), with the account serving each, in model order.
    var runtimeMetricsDeployments: [(deployment: String, account: String)] {
        guard deployedRuntime != nil else { return [] }
        return openAIAccounts.flatMap { account in
            account.deployments.filter(\.sku.isProvisioned).map { (deployment: $0.name, account: account.name) }
        }
    }
    /// Accounts on which the runtime's identity gets Monitoring Reader (they serve a provisioned deployment).
    var runtimeMetricsAccounts: Set<String> { Set(runtimeMetricsDeployments.map(\.account)) }

    init(gateway: Gateway, options: InfrastructureOptions) throws {
        self.gateway = gateway
        self.options = options
        baseName = InfraPlan.baseName(for: gateway.name)

        guard ["Standard", "Premium"].contains(options.eventHubSku) else {
            throw InfrastructureError(element: "options.eventHubSku", message: "must be Standard or Premium, got \"\(options.eventHubSku)\"")
        }
        guard (0...30).contains(options.runtimeMinReplicas), (1...30).contains(options.runtimeMaxReplicas),
              options.runtimeMinReplicas <= options.runtimeMaxReplicas
        else {
            throw InfrastructureError(element: "options.runtimeMinReplicas/runtimeMaxReplicas", message: "need 0 ≤ min ≤ max, 1 ≤ max ≤ 30")
        }
        guard (1...65535).contains(options.runtimePort) else {
            throw InfrastructureError(element: "options.runtimePort", message: "must be a TCP port, got \(options.runtimePort)")
        }

        let service = gateway.service
        guard InfraPlan.isValidServiceName(service.name) else {
            throw InfrastructureError(
                element: "service \"\(service.name)\"",
                message: "APIM service names are 1–50 letters, digits and hyphens, starting with a letter")
        }
        if !service.existing, !InfraPlan.supportedSKUs.contains(service.sku) {
            throw InfrastructureError(
                element: "service \"\(service.name)\"",
                message: "SKU \(service.sku.rawValue) cannot be created with Microsoft.ApiManagement/service@\(InfraPlan.apimAPIVersion); use an existing service or one of \(InfraPlan.supportedSKUs.map(\.rawValue).joined(separator: ", "))")
        }

        // Backends and pools share APIM's backend namespace.
        var backendIds: [String: Backend] = [:]
        var seen = Set<String>()
        for backend in gateway.backends {
            guard seen.insert(backend.id).inserted else {
                throw InfrastructureError(element: "backend \"\(backend.id)\"", message: "duplicate backend id", location: backend.location)
            }
            guard backend.url.hasPrefix("https://") || backend.url.hasPrefix("http://") else {
                throw InfrastructureError(element: "backend \"\(backend.id)\"", message: "url must be an absolute http(s) URL, got \"\(backend.url)\"", location: backend.location)
            }
            if let breaker = backend.circuitBreaker { try InfraPlan.check(breaker, of: backend) }
            backendIds[backend.id] = backend
        }
        var poolIds = Set<String>()
        for pool in gateway.backendPools {
            guard seen.insert(pool.id).inserted else {
                throw InfrastructureError(element: "backendPool \"\(pool.id)\"", message: "id already used by another backend or pool", location: pool.location)
            }
            poolIds.insert(pool.id)
        }
        for pool in gateway.backendPools {
            let element = "backendPool \"\(pool.id)\""
            guard !pool.members.isEmpty else {
                throw InfrastructureError(element: element, message: "a pool needs at least one member", location: pool.location)
            }
            var memberIds = Set<String>()
            for member in pool.members {
                if poolIds.contains(member.backendId) {
                    throw InfrastructureError(element: element, message: "member \"\(member.backendId)\" is a pool; pools can only contain single backends", location: member.location ?? pool.location)
                }
                guard backendIds[member.backendId] != nil else {
                    throw InfrastructureError(element: element, message: "member references unknown backend \"\(member.backendId)\"", location: member.location ?? pool.location)
                }
                guard memberIds.insert(member.backendId).inserted else {
                    throw InfrastructureError(element: element, message: "backend \"\(member.backendId)\" is listed twice", location: member.location ?? pool.location)
                }
                guard (0...100).contains(member.priority), (0...100).contains(member.weight) else {
                    throw InfrastructureError(element: element, message: "member \"\(member.backendId)\": priority and weight must be 0–100", location: member.location ?? pool.location)
                }
            }
        }
        backends = gateway.backends
        pools = gateway.backendPools

        var apiIds = Set<String>()
        var apiPaths: [String: String] = [:]
        for api in gateway.apis {
            guard apiIds.insert(api.id).inserted else {
                throw InfrastructureError(element: "api \"\(api.id)\"", message: "duplicate API id", location: api.location)
            }
            let path = api.path.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            if let other = apiPaths[path] {
                throw InfrastructureError(element: "api \"\(api.id)\"", message: "path \"\(api.path)\" is already used by api \"\(other)\"", location: api.location)
            }
            apiPaths[path] = api.id
            switch api.backend {
            case .backend(let id) where backendIds[id] == nil:
                throw InfrastructureError(element: "api \"\(api.id)\"", message: "references unknown backend \"\(id)\"", location: api.location)
            case .pool(let id) where !poolIds.contains(id):
                throw InfrastructureError(element: "api \"\(api.id)\"", message: "references unknown backend pool \"\(id)\"", location: api.location)
            default: break
            }
        }
        apis = gateway.apis

        var productIds = Set<String>()
        var subscriptionIds = Set<String>()
        for product in gateway.products {
            guard productIds.insert(product.id).inserted else {
                throw InfrastructureError(element: "product \"\(product.id)\"", message: "duplicate product id", location: product.location)
            }
            for api in product.apis where !apiIds.contains(api) {
                throw InfrastructureError(element: "product \"\(product.id)\"", message: "includes unknown API \"\(api)\"", location: product.location)
            }
            for subscription in product.subscriptions {
                guard subscriptionIds.insert(subscription.id).inserted else {
                    throw InfrastructureError(element: "subscription \"\(subscription.id)\"", message: "duplicate subscription id (subscription ids are unique per APIM service)", location: subscription.location ?? product.location)
                }
            }
        }
        products = gateway.products

        var fragmentIds = Set<String>()
        for fragment in gateway.fragments {
            guard fragmentIds.insert(fragment.id).inserted else {
                throw InfrastructureError(element: "fragment \"\(fragment.id)\"", message: "duplicate fragment id", location: fragment.location)
            }
        }
        fragments = gateway.fragments

        for deployment in gateway.provisionedDeployments {
            guard let backend = backendIds[deployment.backendId] else {
                throw InfrastructureError(element: "provisionedDeployment \"\(deployment.deployment)\"", message: "references unknown backend \"\(deployment.backendId)\"", location: deployment.location)
            }
            guard let declared = backend.deployment else {
                throw InfrastructureError(element: "provisionedDeployment \"\(deployment.deployment)\"", message: "backend \"\(backend.id)\" declares no Azure OpenAI deployment", location: deployment.location)
            }
            guard declared.name == deployment.deployment, declared.sku.isProvisioned else {
                throw InfrastructureError(element: "provisionedDeployment \"\(deployment.deployment)\"", message: "backend \"\(backend.id)\" deploys \"\(declared.name)\" (\(declared.sku.rawValue)), not a provisioned deployment named \"\(deployment.deployment)\"", location: deployment.location)
            }
        }

        // Named values: the user's, then the ones the emitters need and the user did not declare.
        var namedValueNames = Set<String>()
        for value in gateway.namedValues {
            guard InfraPlan.isValidNamedValueName(value.name) else {
                throw InfrastructureError(element: "namedValue \"\(value.name)\"", message: "names use letters, digits, '-', '.' and '_' only", location: value.location)
            }
            guard namedValueNames.insert(value.name).inserted else {
                throw InfrastructureError(element: "namedValue \"\(value.name)\"", message: "duplicate named value", location: value.location)
            }
        }
        namedValues = gateway.namedValues

        // Loggers.
        var loggerIds = Set<String>()
        var eventHubLoggers: [EventHubLogger] = []
        var appInsightsLoggers: [AppInsightsLogger] = []
        var namespaces: [EventHubNamespace] = []
        var generated: [GeneratedNamedValue] = []
        for logger in gateway.loggers {
            guard loggerIds.insert(logger.id).inserted else {
                throw InfrastructureError(element: "logger \"\(logger.id)\"", message: "duplicate logger id", location: logger.location)
            }
            switch logger.kind {
            case .eventHub(let namespace, let hub):
                let name = InfraPlan.namespaceName(namespace)
                guard InfraPlan.isValidNamespaceName(name) else {
                    throw InfrastructureError(element: "logger \"\(logger.id)\"", message: "Event Hub namespace \"\(name)\" must be 6–50 letters, digits and hyphens, start with a letter and end with a letter or digit", location: logger.location)
                }
                eventHubLoggers.append(EventHubLogger(id: logger.id, namespace: name, hub: hub))
                if let index = namespaces.firstIndex(where: { $0.name == name }) {
                    if !namespaces[index].hubs.contains(hub) { namespaces[index].hubs.append(hub) }
                } else {
                    namespaces.append(EventHubNamespace(name: name, hubs: [hub]))
                }
            case .applicationInsights(let namedValue, _):
                if namedValueNames.contains(namedValue) {
                    appInsightsLoggers.append(AppInsightsLogger(id: logger.id, namedValue: namedValue, componentSuffix: nil))
                } else {
                    guard InfraPlan.isValidNamedValueName(namedValue) else {
                        throw InfrastructureError(element: "logger \"\(logger.id)\"", message: "connection string named value \"\(namedValue)\" is not a valid named value name", location: logger.location)
                    }
                    var suffix = InfraPlan.baseName(for: logger.id)
                    if appInsightsLoggers.contains(where: { $0.componentSuffix == suffix }) {
                        suffix += "-\(appInsightsLoggers.count + 1)"
                    }
                    appInsightsLoggers.append(AppInsightsLogger(id: logger.id, namedValue: namedValue, componentSuffix: suffix))
                    namedValueNames.insert(namedValue)
                    generated.append(.appInsightsConnectionString(name: namedValue, componentSuffix: suffix))
                }
            }
        }
        self.eventHubLoggers = eventHubLoggers
        self.appInsightsLoggers = appInsightsLoggers
        eventHubNamespaces = namespaces

        if let runtime = gateway.runtime {
            if !namedValueNames.contains(runtime.urlNamedValue) {
                generated.append(.runtimeURL(name: runtime.urlNamedValue))
                namedValueNames.insert(runtime.urlNamedValue)
            }
            if !namedValueNames.contains(runtime.keyNamedValue) {
                generated.append(.gatewayKey(name: runtime.keyNamedValue))
            }
            deployedRuntime = options.deployRuntime ? runtime : nil
        } else {
            deployedRuntime = nil
        }
        generatedNamedValues = generated

        // Azure OpenAI accounts from the backends' deployments, in model order.
        var accounts: [OpenAIAccount] = []
        for backend in gateway.backends {
            guard let deployment = backend.deployment else { continue }
            let element = "backend \"\(backend.id)\""
            guard let account = InfraPlan.openAIAccountName(fromURL: backend.url) else {
                throw InfrastructureError(element: element, message: "declares Azure OpenAI deployment \"\(deployment.name)\" but its url \(backend.url) is not an Azure OpenAI endpoint (https://<account>.openai.azure.com/…)", location: backend.location)
            }
            guard deployment.capacity >= 1 else {
                throw InfrastructureError(element: element, message: "deployment \"\(deployment.name)\" needs a capacity of at least 1 (\(deployment.sku.isProvisioned ? "PTUs" : "thousand tokens per minute"))", location: backend.location)
            }
            if let index = accounts.firstIndex(where: { $0.name == account }) {
                if let existing = accounts[index].deployments.first(where: { $0.name == deployment.name }) {
                    guard existing == deployment else {
                        throw InfrastructureError(element: element, message: "deployment \"\(deployment.name)\" on account \"\(account)\" is declared twice with different settings", location: backend.location)
                    }
                } else {
                    accounts[index].deployments.append(deployment)
                }
            } else {
                accounts.append(OpenAIAccount(name: account, deployments: [deployment]))
            }
        }
        // An API without managed-identity authentication needs the account's keys.
        for api in gateway.apis where api.authentication == nil {
            let targets: [String]
            switch api.backend {
            case .backend(let id): targets = [id]
            case .pool(let id): targets = gateway.backendPools.first { $0.id == id }?.members.map(\.backendId) ?? []
            case .url: targets = []
            }
            for id in targets {
                guard let url = backendIds[id]?.url,
                      let account = InfraPlan.openAIAccountName(fromURL: url),
                      let index = accounts.firstIndex(where: { $0.name == account })
                else { continue }
                accounts[index].disableLocalAuth = false
            }
        }
        openAIAccounts = accounts
    }

    static func check(_ breaker: CircuitBreaker, of backend: Backend) throws {
        let element = "backend \"\(backend.id)\""
        guard breaker.failureCount >= 1, breaker.intervalSeconds >= 1, breaker.tripDurationSeconds >= 1 else {
            throw InfrastructureError(element: element, message: "circuit breaker \"\(breaker.name)\" needs failureCount, intervalSeconds and tripDurationSeconds ≥ 1", location: backend.location)
        }
        guard !breaker.statusCodeRanges.isEmpty,
              breaker.statusCodeRanges.allSatisfy({ $0.lowerBound >= 200 && $0.upperBound <= 599 })
        else {
            throw InfrastructureError(element: element, message: "circuit breaker \"\(breaker.name)\" needs status code ranges within 200–599", location: backend.location)
        }
    }

    // MARK: - Names

    /// `Contoso AI Gateway` → `contoso-ai-gateway` (at most 20 characters, starts with a letter).
    static func baseName(for name: String) -> String {
        var out = ""
        for scalar in name.lowercased().unicodeScalars {
            if scalar.isASCII, scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) {
                out.unicodeScalars.append(scalar)
            } else if !out.isEmpty, !out.hasSuffix("-") {
                out += "-"
            }
        }
        while out.hasSuffix("-") { out.removeLast() }
        if out.first.map({ !$0.isLetter }) ?? true { out = "tg" + (out.isEmpty ? "" : "-") + out }
        if out.count > 20 { out = String(out.prefix(20)) }
        while out.hasSuffix("-") { out.removeLast() }
        return out
    }

    static func isValidServiceName(_ name: String) -> Bool {
        guard (1...50).contains(name.count), let first = name.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic
        else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }
    }

    static func isValidNamespaceName(_ name: String) -> Bool {
        guard (6...50).contains(name.count), let first = name.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic,
              let last = name.last, last.isLetter || last.isNumber
        else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }
    }

    static func isValidNamedValueName(_ name: String) -> Bool {
        (1...256).contains(name.count)
            && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-._".unicodeScalars.contains($0)) }
    }

    /// `contoso-usage.servicebus.windows.net` → `contoso-usage`.
    static func namespaceName(_ namespace: String) -> String {
        var host = namespace
        if let range = host.range(of: "://") { host = String(host[range.upperBound...]) }
        return String(host.split(separator: ".").first ?? Substring(host)).lowercased()
    }

    /// `https://contoso-ptu.openai.azure.com/openai` → `contoso-ptu`.
    static func openAIAccountName(fromURL url: String) -> String? {
        guard let range = url.range(of: "://") else { return nil }
        let rest = url[range.upperBound...]
        let host = String(rest.prefix { $0 != "/" && $0 != ":" && $0 != "?" }).lowercased()
        for suffix in [".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com"] where host.hasSuffix(suffix) {
            let account = String(host.dropLast(suffix.count))
            return account.isEmpty || account.contains(".") ? nil : account
        }
        return nil
    }

    /// Seconds as an ISO-8601 duration: 60 → `PT1M`, 90 → `PT90S`, 3600 → `PT1H`.
    static func isoDuration(seconds: Int) -> String {
        if seconds % 3600 == 0 { return "PT\(seconds / 3600)H" }
        if seconds % 60 == 0 { return "PT\(seconds / 60)M" }
        return "PT\(seconds)S"
    }

    /// Policy file paths relative to the output root, as the policy compiler writes them.
    func globalPolicyPath() -> String { "\(options.policiesDirectory)/global.xml" }
    func apiPolicyPath(_ api: API) -> String { "\(options.policiesDirectory)/apis/\(api.id).xml" }
    func productPolicyPath(_ product: Product) -> String { "\(options.policiesDirectory)/products/\(product.id).xml" }
    func fragmentPath(_ fragment: PolicyFragment) -> String { "\(options.policiesDirectory)/fragments/\(fragment.id).xml" }
    static let runtimeConfigPath = "infrastructure/runtime-config.json"
}

/// Deterministic, collision-free identifiers derived from ids, in the order they are requested.
struct SymbolTable {
    enum Style { case camel, snake }

    private var used: Set<String>
    private let style: Style

    init(style: Style, reserved: [String] = []) {
        self.style = style
        used = Set(reserved)
    }

    /// `("backend", "aoai-ptu-east")` → `backendAoaiPtuEast` (camel) / `aoai_ptu_east` (snake).
    mutating func make(_ prefix: String, _ id: String) -> String {
        let words = SymbolTable.words(id)
        var base: String
        switch style {
        case .camel:
            base = prefix + words.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
            if base.isEmpty { base = "item" }
        case .snake:
            base = ((prefix.isEmpty ? [] : [prefix]) + words).joined(separator: "_")
            if base.isEmpty { base = "item" }
            if base.first.map({ !$0.isLetter && $0 != "_" }) ?? false { base = "r_" + base }
        }
        var candidate = base
        var counter = 2
        while used.contains(candidate) {
            candidate = style == .camel ? "\(base)\(counter)" : "\(base)_\(counter)"
            counter += 1
        }
        used.insert(candidate)
        return candidate
    }

    static func words(_ id: String) -> [String] {
        var words: [String] = []
        var current = ""
        for scalar in id.unicodeScalars {
            if scalar.isASCII, scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) {
                current.unicodeScalars.append(scalar)
            } else if !current.isEmpty {
                words.append(current.lowercased())
                current = ""
            }
        }
        if !current.isEmpty { words.append(current.lowercased()) }
        return words
    }
}
