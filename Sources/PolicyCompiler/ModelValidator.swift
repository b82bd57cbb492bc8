import Diagnostics
import Foundation
import GatewayModel

/// Checks the gateway model before translation: ids, references, budgets, limits, pools.
/// Each finding points at the Swift line that declared the offending value.
struct ModelValidator {
    let gateway: Gateway
    let backendIDs: Set<String>
    let poolIDs: Set<String>
    let apiIDs: Set<String>
    var diagnostics: [Diagnostic] = []

    init(gateway: Gateway) {
        self.gateway = gateway
        backendIDs = Set(gateway.backends.map(\.id))
        poolIDs = Set(gateway.backendPools.map(\.id))
        apiIDs = Set(gateway.apis.map(\.id))
    }

    static func location(_ source: SourceLocation?, path: String) -> Diagnostic.Location {
        Diagnostic.Location(file: source?.fileID, line: source?.line, path: path)
    }

    mutating func error(_ id: DiagnosticID, _ message: String, at source: SourceLocation?, path: String, notes: [String] = []) {
        diagnostics.append(Diagnostic(id: id.rawValue, severity: .error, message: message, location: Self.location(source, path: path), notes: notes))
    }

    mutating func run() -> [Diagnostic] {
        checkNames()
        duplicates(gateway.products.map { ($0.id, $0.location) }, kind: "product", path: "products")
        duplicates(gateway.apis.map { ($0.id, $0.location) }, kind: "API", path: "apis")
        duplicates((gateway.backends.map { ($0.id, $0.location) }) + gateway.backendPools.map { ($0.id, $0.location) }, kind: "backend", path: "backends")
        duplicates(gateway.fragments.map { ($0.id, $0.location) }, kind: "fragment", path: "fragments")
        duplicates(gateway.namedValues.map { ($0.name, $0.location) }, kind: "named value", path: "namedValues")
        duplicates(gateway.loggers.map { ($0.id, $0.location) }, kind: "logger", path: "loggers")
        duplicates(gateway.products.flatMap { $0.subscriptions.map { ($0.id, $0.location) } }, kind: "subscription", path: "subscriptions")
        checkDocumentPaths()
        checkComments()
        for product in gateway.products { checkProduct(product) }
        for api in gateway.apis { checkAPI(api) }
        for pool in gateway.backendPools { checkPool(pool) }
        for backend in gateway.backends { checkBackend(backend) }
        for deployment in gateway.provisionedDeployments {
            let path = "provisionedDeployments[\(deployment.deployment)]"
            if !backendIDs.contains(deployment.backendId) {
                error(.undefinedBackend, "provisioned deployment \"\(deployment.deployment)\" uses backend \"\(deployment.backendId)\", which is not defined", at: deployment.location, path: path)
            }
            if !(1...100).contains(deployment.targetUtilizationPercent) {
                error(.outOfRange, "target utilization \(deployment.targetUtilizationPercent)% is outside 1–100", at: deployment.location, path: path)
            }
        }
        if let runtime = gateway.runtime {
            if URL(string: runtime.url)?.scheme == nil {
                error(.invalidValue, "runtime URL \"\(runtime.url)\" is not an absolute URL", at: runtime.location, path: "runtime")
            }
            if runtime.decisionCacheSeconds < 0 || runtime.timeoutSeconds <= 0 {
                error(.outOfRange, "runtime decision cache must be ≥ 0 s and timeout > 0 s", at: runtime.location, path: "runtime")
            }
        }
        return diagnostics
    }

    /// XML comments cannot contain `--` or end in `-`; such text would make the written file unreadable.
    mutating func checkComments() {
        func check(_ text: String, at location: SourceLocation?, path: String) {
            if text.contains("--") || text.hasSuffix("-") {
                error(.invalidComment, "comment text \"\(text)\" contains \"--\" or ends in \"-\", which XML does not allow", at: location, path: path)
            }
        }
        func visit(_ content: [PolicyNode.Content], at location: SourceLocation?, path: String) {
            for item in content {
                switch item {
                case .comment(let text): check(text, at: location, path: path)
                case .element(let node): visit(node.content, at: location, path: path)
                case .text: break
                }
            }
        }
        func visit(_ policies: [PlacedPolicy], path: String) {
            for placed in policies {
                switch placed.policy {
                case .comment(let text): check(text, at: placed.location, path: path)
                case .choose(let whens, let otherwise):
                    for when in whens { visit(when.policies, path: path) }
                    visit(otherwise ?? [], path: path)
                case .retry(_, let nested): visit(nested, path: path)
                case .node(let node): visit(node.content, at: placed.location, path: path)
                default: break
                }
            }
        }
        func visit(_ sections: PolicySections, path: String) {
            for list in [sections.inbound, sections.backend, sections.outbound, sections.onError] { visit(list, path: path) }
        }
        visit(gateway.globalPolicies, path: "globalPolicies")
        for product in gateway.products { visit(product.policies, path: "products[\(product.id)]") }
        for api in gateway.apis { visit(api.policies, path: "apis[\(api.id)]") }
        for fragment in gateway.fragments { visit(fragment.policies, path: "fragments[\(fragment.id)]") }
        for document in gateway.policyDocuments {
            let path = "policyDocuments[\(document.path)]"
            for text in document.leadingComments { check(text, at: document.location, path: path) }
            switch document.body {
            case .fragment(let policies): visit(policies, path: path)
            case .policies(let sections): for section in sections { visit(section.policies, path: path) }
            }
        }
    }

    /// Declared documents must not collide with generated files or each other, and must stay under policies/.
    mutating func checkDocumentPaths() {
        var generated = Set([OutputLayout.globalPolicy])
        generated.formUnion(gateway.apis.map { OutputLayout.apiPolicy($0.id) })
        generated.formUnion(gateway.products.map { OutputLayout.productPolicy($0.id) })
        generated.formUnion(gateway.fragments.map { OutputLayout.fragment($0.id) })
        var seen: Set<String> = []
        for document in gateway.policyDocuments {
            let path = "policies/" + document.path
            let parts = document.path.split(separator: "/", omittingEmptySubsequences: false)
            if !document.path.hasSuffix(".xml") || document.path.hasPrefix("/") || parts.contains("..") || parts.contains("") {
                error(.invalidName, "document path \"\(document.path)\" must be a relative path ending in .xml, without '..'", at: document.location, path: path)
            }
            if generated.contains(path) || !seen.insert(path).inserted {
                error(.duplicateID, "document \"\(path)\" is generated twice", at: document.location, path: path)
            }
            if let scope = document.scope, PolicyScope(rawValue: scope) == nil {
                error(.invalidValue, "unknown scope \"\(scope)\"; use global, workspace, product, api or operation", at: document.location, path: path)
            }
        }
    }


    /// APIM resource names: letters, digits and hyphens, starting with a letter or digit, at most 80 characters.
    mutating func checkNames() {
        var named: [(String, String, SourceLocation?)] = []
        named += gateway.products.map { ("product", $0.id, $0.location) }
        named += gateway.apis.map { ("API", $0.id, $0.location) }
        named += gateway.backends.map { ("backend", $0.id, $0.location) }
        named += gateway.backendPools.map { ("backend pool", $0.id, $0.location) }
        named += gateway.fragments.map { ("fragment", $0.id, $0.location) }
        named += gateway.namedValues.map { ("named value", $0.name, $0.location) }
        for (kind, id, location) in named {
            let valid = !id.isEmpty && id.count <= 80 && id.first.map { $0.isASCII && ($0.isLetter || $0.isNumber) } == true
                && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
            if !valid {
                error(.invalidName, "\(kind) id \"\(id)\" must start with a letter or digit and use only letters, digits, '-', '_' or '.' (max 80)", at: location, path: kind)
            }
        }
    }

    mutating func duplicates(_ items: [(String, SourceLocation?)], kind: String, path: String) {
        var first: [String: SourceLocation?] = [:]
        for (id, location) in items {
            if let earlier = first[id] {
                let note = earlier.map { "first defined at \($0)" } ?? "first defined earlier"
                error(.duplicateID, "duplicate \(kind) id \"\(id)\"", at: location, path: "\(path)[\(id)]", notes: [note])
            } else {
                first[id] = location
            }
        }
    }

    mutating func checkProduct(_ product: Product) {
        let path = "products[\(product.id)]"
        for api in product.apis where !apiIDs.contains(api) {
            error(.undefinedAPI, "product \"\(product.id)\" includes API \"\(api)\", which is not defined", at: product.location, path: path)
        }
        for budget in product.budgets {
            let budgetPath = path + "/budgets[\(budget.period.rawValue)]"
            if budget.amount.amount <= 0 {
                error(.invalidBudget, "budget of \(budget.amount.formatted()) \(budget.amount.currency) for product \"\(product.id)\" must be greater than zero", at: budget.location, path: budgetPath)
            }
            if budget.amount.currency != "USD" {
                error(.invalidBudget, "budget currency \"\(budget.amount.currency)\" is not supported; pricing is in USD", at: budget.location, path: budgetPath)
            }
            for threshold in budget.alertThresholds where !(1...1000).contains(threshold) {
                error(.invalidAlertThreshold, "alert threshold \(threshold)% must be between 1 and 1000", at: budget.location, path: budgetPath)
            }
        }
        if !product.budgets.isEmpty && gateway.runtime == nil {
            error(.missingRuntime, "product \"\(product.id)\" has budgets but the gateway declares no Runtime(url:)", at: product.budgets[0].location, path: path,
                  notes: ["budgets are enforced by the Tollgate runtime; add Runtime(url: \"https://…\") to the gateway"])
        }
        if product.defaultEstimatedTokens <= 0 {
            error(.invalidLimit, "default estimated tokens must be greater than zero", at: product.location, path: path)
        }
        for limit in product.tokenLimits {
            let limitPath = path + "/token-limit"
            if limit.tokensPerMinute == nil && limit.tokenQuota == nil {
                error(.invalidLimit, "token limit needs tokens per minute, a token quota, or both", at: limit.location, path: limitPath)
            }
            if let tpm = limit.tokensPerMinute, tpm <= 0 {
                error(.invalidLimit, "tokens per minute must be greater than zero, got \(tpm)", at: limit.location, path: limitPath)
            }
            if let quota = limit.tokenQuota, quota <= 0 {
                error(.invalidLimit, "token quota must be greater than zero, got \(quota)", at: limit.location, path: limitPath)
            }
            if (limit.tokenQuota == nil) != (limit.tokenQuotaPeriod == nil) {
                error(.invalidLimit, "token quota and its period go together", at: limit.location, path: limitPath)
            }
        }
        for limit in product.rateLimits {
            let limitPath = path + "/rate-limit-by-key"
            if limit.calls <= 0 {
                error(.invalidLimit, "rate limit calls must be greater than zero, got \(limit.calls)", at: limit.location, path: limitPath)
            }
        }
        for quota in product.quotas {
            let quotaPath = path + "/quota-by-key"
            if quota.calls == nil && quota.bandwidthKilobytes == nil {
                error(.invalidLimit, "quota needs calls, bandwidth or both", at: quota.location, path: quotaPath)
            }
            if (quota.calls ?? 1) <= 0 || (quota.bandwidthKilobytes ?? 1) <= 0 {
                error(.invalidLimit, "quota calls and bandwidth must be greater than zero", at: quota.location, path: quotaPath)
            }
        }
    }

    mutating func checkAPI(_ api: API) {
        let path = "apis[\(api.id)]"
        switch api.backend {
        case .backend(let id) where !backendIDs.contains(id) && !poolIDs.contains(id):
            error(.undefinedBackend, "API \"\(api.id)\" routes to backend \"\(id)\", which is not defined", at: api.location, path: path)
        case .pool(let id) where !poolIDs.contains(id):
            error(.undefinedBackend, "API \"\(api.id)\" routes to backend pool \"\(id)\", which is not defined", at: api.location, path: path)
        default:
            break
        }
        if let retry = api.retry, !(1...50).contains(retry.count) {
            error(.outOfRange, "retry count \(retry.count) is outside 1–50", at: api.location, path: path + "/retry")
        }
        for (logger, kind) in [(api.tokenMetricsLogger, "token metrics"), (api.usageLogger, "usage")] {
            if let logger, !gateway.loggers.contains(where: { $0.id == logger }) {
                error(.undefinedBackend, "API \"\(api.id)\" sends \(kind) to logger \"\(logger)\", which is not defined", at: api.location, path: path)
            }
        }
    }

    mutating func checkPool(_ pool: BackendPool) {
        let path = "backendPools[\(pool.id)]"
        if pool.members.isEmpty {
            error(.invalidPool, "backend pool \"\(pool.id)\" has no members", at: pool.location, path: path)
        }
        for member in pool.members {
            if !backendIDs.contains(member.backendId) {
                error(.undefinedBackend, "backend pool \"\(pool.id)\" lists backend \"\(member.backendId)\", which is not defined", at: member.location ?? pool.location, path: path)
            }
            if !(1...100).contains(member.priority) || !(1...1000).contains(member.weight) {
                error(.invalidPool, "pool member \"\(member.backendId)\" needs priority 1–100 and weight 1–1000", at: member.location ?? pool.location, path: path)
            }
        }
    }

    mutating func checkBackend(_ backend: Backend) {
        let path = "backends[\(backend.id)]"
        if URL(string: backend.url)?.scheme == nil {
            error(.invalidValue, "backend \"\(backend.id)\" URL \"\(backend.url)\" is not an absolute URL", at: backend.location, path: path)
        }
        if let breaker = backend.circuitBreaker {
            let ranges = breaker.statusCodeRanges
            if breaker.failureCount <= 0 || breaker.intervalSeconds <= 0 || breaker.tripDurationSeconds <= 0 || ranges.isEmpty
                || ranges.contains(where: { $0.lowerBound < 100 || $0.upperBound > 599 }) {
                error(.invalidCircuitBreaker, "circuit breaker on \"\(backend.id)\" needs positive counts and durations and status codes within 100–599", at: backend.location, path: path)
            }
        }
    }
}
