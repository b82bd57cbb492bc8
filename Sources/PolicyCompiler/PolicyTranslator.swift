import GatewayModel
import PolicyXML

/// Translates a gateway model into policy documents: one per scope (global, each API, each product)
/// and one per fragment, including the runtime callout fragments when a runtime is configured.
struct PolicyTranslator {
    let gateway: Gateway

    func documents() -> [PolicyDocument] {
        var documents = [globalDocument()]
        documents += gateway.apis.map(apiDocument)
        documents += gateway.products.map(productDocument)
        documents += gateway.fragments.map(fragmentDocument)
        documents += gateway.policyDocuments.map(declaredDocument)
        if let runtime = gateway.runtime, usesRuntime {
            documents.append(PolicyDocument(
                path: OutputLayout.fragment(RuntimeCallouts.budgetCheckFragment), kind: .fragment,
                root: RuntimeCallouts.budgetCheck(runtime), origins: [:], owner: runtime.location))
            documents.append(PolicyDocument(
                path: OutputLayout.fragment(RuntimeCallouts.usageReportFragment), kind: .fragment,
                root: RuntimeCallouts.usageReport(runtime), origins: [:], owner: runtime.location))
        }
        return documents
    }

    /// True when any product has budgets, so the callout fragments are generated.
    var usesRuntime: Bool { gateway.products.contains { !$0.budgets.isEmpty } }

    /// Accumulates the policies of one section and remembers which declaration produced each.
    struct Section {
        let name: String
        /// Policy elements and the comments between them.
        var policies: [XMLNode] = []
        /// Declarations by element index (comments are not counted, as in the validator's paths).
        var origins: [Int: SourceLocation] = [:]
        private var elementCount = 0

        init(_ name: String) { self.name = name }

        mutating func add(_ element: XMLElement, from location: SourceLocation?) {
            if let location { origins[elementCount] = location }
            policies.append(.element(element))
            elementCount += 1
        }

        mutating func add(_ placed: [PlacedPolicy]) {
            for policy in placed {
                if case .comment(let text) = policy.policy {
                    policies.append(.comment(text))
                } else {
                    add(PolicyTranslator.element(for: policy.policy), from: policy.location)
                }
            }
        }

        var element: XMLElement { XMLElement(name, children: policies) }
    }

    func document(path: String, scope: PolicyScope?, sections: [Section], owner: SourceLocation?) -> PolicyDocument {
        var origins: [[Int]: SourceLocation] = [:]
        for (sectionIndex, section) in sections.enumerated() {
            for (policyIndex, location) in section.origins { origins[[sectionIndex, policyIndex]] = location }
        }
        let root = X.element("policies", [], sections.map(\.element))
        return PolicyDocument(path: path, kind: .policies(scope), root: root, origins: origins, owner: owner)
    }

    /// The four sections with `<base />` first (for every scope below global).
    func emptySections(withBase: Bool) -> (Section, Section, Section, Section) {
        var sections = (Section("inbound"), Section("backend"), Section("outbound"), Section("on-error"))
        if withBase {
            sections.0.add(X.element("base"), from: nil)
            sections.1.add(X.element("base"), from: nil)
            sections.2.add(X.element("base"), from: nil)
            sections.3.add(X.element("base"), from: nil)
        }
        return sections
    }

    func globalDocument() -> PolicyDocument {
        var (inbound, backend, outbound, onError) = emptySections(withBase: false)
        let custom = gateway.globalPolicies
        inbound.add(custom.inbound)
        if custom.backend.isEmpty {
            backend.add(X.element("forward-request"), from: nil)
        } else {
            backend.add(custom.backend)
        }
        outbound.add(custom.outbound)
        onError.add(custom.onError)
        return document(path: OutputLayout.globalPolicy, scope: .global, sections: [inbound, backend, outbound, onError], owner: gateway.location)
    }

    func apiDocument(_ api: API) -> PolicyDocument {
        var (inbound, backend, outbound, onError) = emptySections(withBase: true)
        inbound.add(api.policies.inbound)
        if let auth = api.authentication {
            let variable = auth.outputTokenVariableName ?? "msi-access-token"
            var clientID: String?
            if case .userAssigned(let id) = auth.identity { clientID = id }
            inbound.add(X.element("authentication-managed-identity", [
                ("resource", auth.resource), ("client-id", clientID), ("output-token-variable-name", variable),
                ("ignore-error", "false"),
            ]), from: api.location)
            inbound.add(X.header("Authorization", "@(\"Bearer \" + (string)context.Variables[\"\(variable)\"])"), from: api.location)
        }
        if let loggerID = api.tokenMetricsLogger, let logger = gateway.loggers.first(where: { $0.id == loggerID }),
           case .applicationInsights(_, let metrics) = logger.kind {
            let name = metrics.flavor == .azureOpenAI ? "azure-openai-emit-token-metric" : "llm-emit-token-metric"
            inbound.add(X.element(name, [("namespace", metrics.namespace)], metrics.dimensions.map {
                X.element("dimension", [("name", $0.name), ("value", $0.value)])
            }), from: logger.location)
        }
        let route: XMLElement
        switch api.backend {
        case .backend(let id), .pool(let id): route = X.element("set-backend-service", [("backend-id", id)])
        case .url(let url): route = X.element("set-backend-service", [("base-url", url)])
        }
        if let runtime = gateway.runtime, runtime.relayStreaming {
            inbound.add(RuntimeCallouts.streamingRoute(runtime, otherwise: route), from: runtime.location)
        } else {
            inbound.add(route, from: api.location)
        }
        if let retry = api.retry {
            backend = Section("backend")
            let condition = "@(" + retry.statusCodes.map { "context.Response.StatusCode == \($0)" }.joined(separator: " || ") + ")"
            let wait = "@{ int seconds; return int.TryParse(context.Response?.Headers.GetValueOrDefault(\"Retry-After\", \"1\"), out seconds) ? Math.Min(Math.Max(seconds, 1), \(retry.maxWaitSeconds)) : 1; }"
            backend.add(X.element("retry", [
                ("condition", condition), ("count", String(retry.count)), ("interval", wait), ("first-fast-retry", "false"),
            ], [X.element("forward-request", [("buffer-request-body", "true")])]), from: api.location)
        }
        backend.add(api.policies.backend)
        outbound.add(api.policies.outbound)
        if let loggerID = api.usageLogger, let logger = gateway.loggers.first(where: { $0.id == loggerID }) {
            outbound.add(X.text("log-to-eventhub", attributes: [("logger-id", logger.id), ("partition-key", "@(context.Subscription?.Id ?? \"anonymous\")")], Self.usageLogRecord), from: logger.location)
        }
        onError.add(api.policies.onError)
        return document(path: OutputLayout.apiPolicy(api.id), scope: .api, sections: [inbound, backend, outbound, onError], owner: api.location)
    }

    static let usageLogRecord = """
        @{
            var body = context.Response.Headers.GetValueOrDefault("Content-Type", "").Contains("application/json") ? context.Response.Body.As<JObject>(preserveContent: true) : null;
            var usage = body?["usage"];
            return new JObject(
                new JProperty("timestamp", DateTime.UtcNow.ToString("o")),
                new JProperty("requestId", context.RequestId.ToString()),
                new JProperty("product", context.Product?.Id),
                new JProperty("subscription", context.Subscription?.Id),
                new JProperty("api", context.Api?.Id),
                new JProperty("deployment", context.Request.MatchedParameters.GetValueOrDefault("deployment-id", "")),
                new JProperty("model", body?["model"]?.ToString()),
                new JProperty("statusCode", context.Response.StatusCode),
                new JProperty("promptTokens", usage?["prompt_tokens"]),
                new JProperty("completionTokens", usage?["completion_tokens"]),
                new JProperty("totalTokens", usage?["total_tokens"])
            ).ToString(Newtonsoft.Json.Formatting.None);
        }
        """

    func productDocument(_ product: Product) -> PolicyDocument {
        var (inbound, backend, outbound, onError) = emptySections(withBase: true)
        inbound.add(product.policies.inbound)
        for limit in product.rateLimits {
            inbound.add(X.element("rate-limit-by-key", [
                ("calls", String(limit.calls)), ("renewal-period", String(limit.renewalPeriodSeconds)),
                ("counter-key", limit.counter.policyExpression), ("remaining-calls-header-name", limit.remainingCallsHeader),
            ]), from: limit.location)
        }
        for quota in product.quotas {
            inbound.add(X.element("quota-by-key", [
                ("calls", quota.calls.map(String.init)), ("bandwidth", quota.bandwidthKilobytes.map(String.init)),
                ("renewal-period", String(quota.renewalPeriodSeconds)), ("counter-key", quota.counter.policyExpression),
            ]), from: quota.location)
        }
        for limit in product.tokenLimits {
            let name = limit.flavor == .azureOpenAI ? "azure-openai-token-limit" : "llm-token-limit"
            inbound.add(X.element(name, [
                ("counter-key", limit.counter.policyExpression),
                ("tokens-per-minute", limit.tokensPerMinute.map(String.init)),
                ("token-quota", limit.tokenQuota.map(String.init)),
                ("token-quota-period", limit.tokenQuotaPeriod?.rawValue),
                ("estimate-prompt-tokens", X.bool(limit.estimatePromptTokens)),
                ("remaining-quota-tokens-header-name", limit.remainingQuotaTokensHeader),
                ("remaining-tokens-header-name", limit.remainingTokensHeader),
                ("tokens-consumed-header-name", limit.consumedTokensHeader),
            ]), from: limit.location)
        }
        if !product.budgets.isEmpty, gateway.runtime != nil {
            inbound.add(X.element("set-variable", [("name", RuntimeCallouts.productVariable), ("value", product.id)]), from: product.budgets[0].location)
            inbound.add(X.element("include-fragment", [("fragment-id", RuntimeCallouts.budgetCheckFragment)]), from: product.budgets[0].location)
        }
        backend.add(product.policies.backend)
        outbound.add(product.policies.outbound)
        if !product.budgets.isEmpty, gateway.runtime != nil {
            outbound.add(X.element("include-fragment", [("fragment-id", RuntimeCallouts.usageReportFragment)]), from: product.budgets[0].location)
        }
        onError.add(product.policies.onError)
        return document(path: OutputLayout.productPolicy(product.id), scope: .product, sections: [inbound, backend, outbound, onError], owner: product.location)
    }

    func fragmentDocument(_ fragment: PolicyFragment) -> PolicyDocument {
        var section = Section("fragment")
        section.add(fragment.policies)
        var origins: [[Int]: SourceLocation] = [:]
        for (index, location) in section.origins { origins[[index]] = location }
        return PolicyDocument(
            path: OutputLayout.fragment(fragment.id), kind: .fragment, root: section.element,
            origins: origins, owner: fragment.location)
    }

    /// The XML for a user-written policy statement.
    static func element(for policy: Policy) -> XMLElement {
        switch policy {
        case .base:
            return X.element("base")
        case .includeFragment(let id):
            return X.element("include-fragment", [("fragment-id", id)])
        case .setHeader(let name, let values, let action):
            return X.element("set-header", [("name", name), ("exists-action", action.rawValue)], values.map { X.text("value", $0) })
        case .cors(let cors):
            var children = [
                X.element("allowed-origins", [], cors.allowedOrigins.map { X.text("origin", $0) }),
                X.element("allowed-methods", [("preflight-result-max-age", cors.preflightResultMaxAge.map(String.init))], cors.allowedMethods.map { X.text("method", $0) }),
                X.element("allowed-headers", [], cors.allowedHeaders.map { X.text("header", $0) }),
            ]
            if !cors.exposeHeaders.isEmpty {
                children.append(X.element("expose-headers", [], cors.exposeHeaders.map { X.text("header", $0) }))
            }
            return X.element("cors", [("allow-credentials", X.bool(cors.allowCredentials))], children)
        case .validateAzureADToken(let validation):
            var children: [XMLElement] = []
            if !validation.clientApplicationIds.isEmpty {
                children.append(X.element("client-application-ids", [], validation.clientApplicationIds.map { X.text("application-id", $0) }))
            }
            if !validation.audiences.isEmpty {
                children.append(X.element("audiences", [], validation.audiences.map { X.text("audience", $0) }))
            }
            if !validation.requiredClaims.isEmpty {
                children.append(X.element("required-claims", [], validation.requiredClaims.sorted { $0.key < $1.key }.map { claim in
                    X.element("claim", [("name", claim.key), ("match", "any")], claim.value.map { X.text("value", $0) })
                }))
            }
            return X.element("validate-azure-ad-token", [
                ("tenant-id", validation.tenantId), ("header-name", "Authorization"),
                ("failed-validation-httpcode", String(validation.failedStatusCode)),
                ("failed-validation-error-message", validation.failedMessage),
            ], children)
        case .choose(let whens, let otherwise):
            var branches = whens.map { when in
                XMLElement("when", attributes: [XMLAttribute("condition", when.condition)], children: nodes(for: when.policies))
            }
            if let otherwise {
                branches.append(XMLElement("otherwise", children: nodes(for: otherwise)))
            }
            return X.element("choose", [], branches)
        case .retry(let retry, let policies):
            var element = X.element("retry", [
                ("condition", retry.condition), ("count", String(retry.count)), ("interval", String(retry.intervalSeconds)),
                ("max-interval", retry.maxIntervalSeconds.map(String.init)), ("delta", retry.deltaSeconds.map(String.init)),
                ("first-fast-retry", X.bool(retry.firstFastRetry)),
            ])
            element.children = nodes(for: policies)
            return element
        case .node(let node):
            return element(for: node)
        case .comment:
            preconditionFailure("a comment is not an element; use nodes(for:)")
        }
    }

    /// The XML for a list of statements: policy elements and comments, in order.
    static func nodes(for policies: [PlacedPolicy]) -> [XMLNode] {
        policies.map { placed in
            if case .comment(let text) = placed.policy { return .comment(text) }
            return .element(element(for: placed.policy))
        }
    }

    static func element(for node: PolicyNode) -> XMLElement {
        XMLElement(
            node.name, attributes: node.attributes.map { XMLAttribute($0.name, $0.value) },
            children: node.content.map { content in
                switch content {
                case .element(let child): .element(element(for: child))
                case .text(let text): .text(text)
                case .comment(let text): .comment(text)
                }
            })
    }

    /// A hand-written or imported document, emitted exactly as declared.
    func declaredDocument(_ declaration: PolicyDocumentDeclaration) -> PolicyDocument {
        let path = "policies/" + declaration.path
        switch declaration.body {
        case .fragment(let policies):
            var section = Section("fragment")
            section.add(policies)
            var origins: [[Int]: SourceLocation] = [:]
            for (index, location) in section.origins { origins[[index]] = location }
            return PolicyDocument(
                path: path, kind: .fragment, root: section.element, origins: origins,
                owner: declaration.location, leadingComments: declaration.leadingComments)
        case .policies(let declared):
            let sections = declared.map { declaredSection -> Section in
                var section = Section(declaredSection.section.rawValue)
                section.add(declaredSection.policies)
                return section
            }
            var document = document(
                path: path, scope: declaration.scope.flatMap(PolicyScope.init(rawValue:)), sections: sections,
                owner: declaration.location)
            document.leadingComments = declaration.leadingComments
            return document
        }
    }
}
