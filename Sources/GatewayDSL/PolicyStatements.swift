import GatewayModel

/// Phantom types naming where a policy statement may appear (as in Plot's node contexts).
public protocol PolicyContext {}
/// Contexts that may hold inbound-only policies: `<inbound>` itself and fragments (which the
/// validator checks where they are included).
public protocol InboundCapableContext: PolicyContext {}
/// Request processing (`<inbound>`).
public enum InboundContext: InboundCapableContext {}
/// The backend call (`<backend>`).
public enum BackendContext: PolicyContext {}
/// Response processing (`<outbound>`).
public enum OutboundContext: PolicyContext {}
/// Error handling (`<on-error>`).
public enum OnErrorContext: PolicyContext {}
/// A policy fragment, which may be included in any section.
public enum FragmentContext: InboundCapableContext {}

/// A policy statement that may appear in the section `Context`. Statements that APIM allows only in
/// some sections exist only for those contexts, so misplacing them does not compile.
public struct PolicyStatement<Context: PolicyContext>: Sendable {
    public let placed: PlacedPolicy

    public init(_ policy: Policy, fileID: String = #fileID, line: Int = #line) {
        placed = PlacedPolicy(policy, location: SourceLocation(fileID: fileID, line: line))
    }
}

/// Collects the policy statements of one section.
@resultBuilder
public enum PolicyBuilder<Context: PolicyContext> {
    public static func buildExpression(_ statement: PolicyStatement<Context>) -> [PlacedPolicy] { [statement.placed] }
    public static func buildBlock(_ parts: [PlacedPolicy]...) -> [PlacedPolicy] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [PlacedPolicy]?) -> [PlacedPolicy] { part ?? [] }
    public static func buildEither(first part: [PlacedPolicy]) -> [PlacedPolicy] { part }
    public static func buildEither(second part: [PlacedPolicy]) -> [PlacedPolicy] { part }
    public static func buildArray(_ parts: [[PlacedPolicy]]) -> [PlacedPolicy] { parts.flatMap { $0 } }
}

// MARK: Statements allowed in every section
//
// Statements are free functions generic over the section context rather than static members, so a
// block of several statements reads one per line (a leading-dot member on a new line would chain
// onto the previous statement).

/// `<base />`: the enclosing scope's policies run here.
public func Base<Context>(fileID: String = #fileID, line: Int = #line) -> PolicyStatement<Context> {
    PolicyStatement(.base, fileID: fileID, line: line)
}

/// `<!--text-->` between policies. The text is written byte for byte, so add the spaces you want
/// around it; XML does not allow `--` inside a comment or `-` at its end.
public func Comment<Context>(_ text: String, fileID: String = #fileID, line: Int = #line) -> PolicyStatement<Context> {
    PolicyStatement(.comment(text), fileID: fileID, line: line)
}

/// `<include-fragment fragment-id="…" />`.
public func IncludeFragment<Context>(_ id: String, fileID: String = #fileID, line: Int = #line) -> PolicyStatement<Context> {
    PolicyStatement(.includeFragment(id), fileID: fileID, line: line)
}

/// `<set-header>` with one or more values (literals or expressions).
public func SetHeader<Context>(
    _ name: String, _ values: String..., action: HeaderExistsAction = .override, fileID: String = #fileID, line: Int = #line
) -> PolicyStatement<Context> {
    PolicyStatement(.setHeader(name: name, values: values, existsAction: action), fileID: fileID, line: line)
}

/// `<choose>` with one branch and an optional `otherwise`.
public func When<Context>(
    _ condition: String, fileID: String = #fileID, line: Int = #line,
    @PolicyBuilder<Context> then policies: () -> [PlacedPolicy],
    @PolicyBuilder<Context> otherwise: () -> [PlacedPolicy] = { [] }
) -> PolicyStatement<Context> {
    let alternative = otherwise()
    return PolicyStatement(
        .choose(whens: [GatewayModel.When(condition: condition, policies: policies())], otherwise: alternative.isEmpty ? nil : alternative),
        fileID: fileID, line: line)
}

/// `<retry>` around the nested policies.
public func RetryOn<Context>(
    condition: String, count: Int, interval: Int, maxInterval: Int? = nil, delta: Int? = nil, firstFastRetry: Bool = false,
    fileID: String = #fileID, line: Int = #line, @PolicyBuilder<Context> _ policies: () -> [PlacedPolicy]
) -> PolicyStatement<Context> {
    let settings = Retry(
        condition: condition, count: count, intervalSeconds: interval, maxIntervalSeconds: maxInterval, deltaSeconds: delta,
        firstFastRetry: firstFastRetry)
    return PolicyStatement(.retry(settings, policies()), fileID: fileID, line: line)
}

/// Any APIM policy the typed DSL does not cover, written as-is and checked by the validator.
public func CustomPolicy<Context>(_ node: PolicyNode, fileID: String = #fileID, line: Int = #line) -> PolicyStatement<Context> {
    PolicyStatement(.node(node), fileID: fileID, line: line)
}

/// Any APIM policy by name, attributes and ordered content (elements and text).
public func CustomPolicy<Context>(
    _ name: String, _ attributes: KeyValuePairs<String, String> = [:], content: [PolicyNode.Content],
    fileID: String = #fileID, line: Int = #line
) -> PolicyStatement<Context> {
    let node = PolicyNode(name, attributes: attributes.map { PolicyNode.Attribute($0.key, $0.value) }, content: content)
    return PolicyStatement(.node(node), fileID: fileID, line: line)
}

/// Any APIM policy by name, attributes and optional text or children.
public func CustomPolicy<Context>(
    _ name: String, _ attributes: KeyValuePairs<String, String> = [:], text: String? = nil, children: [PolicyNode] = [],
    fileID: String = #fileID, line: Int = #line
) -> PolicyStatement<Context> {
    let node = PolicyNode(name, attributes: attributes.map { PolicyNode.Attribute($0.key, $0.value) }, children: children, text: text)
    return PolicyStatement(.node(node), fileID: fileID, line: line)
}

// MARK: Inbound-only statements

/// `<cors>`: cross-origin requests from browsers (inbound only).
public func Cors<Context: InboundCapableContext>(
    origins: [String], methods: [String] = ["POST", "OPTIONS"], headers: [String] = ["*"], expose: [String] = [],
    allowCredentials: Bool = false, preflightMaxAge: Int? = nil, fileID: String = #fileID, line: Int = #line
) -> PolicyStatement<Context> {
    PolicyStatement(.cors(CORS(
        allowedOrigins: origins, allowedMethods: methods, allowedHeaders: headers, exposeHeaders: expose,
        allowCredentials: allowCredentials, preflightResultMaxAge: preflightMaxAge)), fileID: fileID, line: line)
}

/// `<validate-azure-ad-token>`: require an Entra ID token from the caller (inbound only).
public func ValidateEntraToken<Context: InboundCapableContext>(
    tenant: String, audiences: [String] = [], clientApplicationIds: [String] = [], requiredClaims: [String: [String]] = [:],
    fileID: String = #fileID, line: Int = #line
) -> PolicyStatement<Context> {
    PolicyStatement(.validateAzureADToken(AzureADTokenValidation(
        tenantId: tenant, audiences: audiences, clientApplicationIds: clientApplicationIds, requiredClaims: requiredClaims)),
        fileID: fileID, line: line)
}

// MARK: Section blocks

/// Extra policies for one section of a product, an API, or the whole gateway.
public struct SectionPolicies: GatewayComponent, ProductComponent, APIComponent {
    let section: PolicySection
    let policies: [PlacedPolicy]

    public func apply(to gateway: inout Gateway) { gateway.globalPolicies.append(policies, to: section) }
    public func apply(to product: inout Product) { product.policies.append(policies, to: section) }
    public func apply(to api: inout API) { api.policies.append(policies, to: section) }
}

/// Policies for `<inbound>`.
public func Inbound(@PolicyBuilder<InboundContext> _ content: () -> [PlacedPolicy]) -> SectionPolicies {
    SectionPolicies(section: .inbound, policies: content())
}

/// Policies for `<backend>`.
public func BackendSection(@PolicyBuilder<BackendContext> _ content: () -> [PlacedPolicy]) -> SectionPolicies {
    SectionPolicies(section: .backend, policies: content())
}

/// Policies for `<outbound>`.
public func Outbound(@PolicyBuilder<OutboundContext> _ content: () -> [PlacedPolicy]) -> SectionPolicies {
    SectionPolicies(section: .outbound, policies: content())
}

/// Policies for `<on-error>`.
public func OnError(@PolicyBuilder<OnErrorContext> _ content: () -> [PlacedPolicy]) -> SectionPolicies {
    SectionPolicies(section: .onError, policies: content())
}

extension PolicySections {
    mutating func append(_ policies: [PlacedPolicy], to section: PolicySection) {
        switch section {
        case .inbound: inbound += policies
        case .backend: backend += policies
        case .outbound: outbound += policies
        case .onError: onError += policies
        }
    }
}
