/// Extra policies for the four sections of a policy document.
public struct PolicySections: Codable, Sendable, Hashable {
    public var inbound: [PlacedPolicy]
    public var backend: [PlacedPolicy]
    public var outbound: [PlacedPolicy]
    public var onError: [PlacedPolicy]

    public init(
        inbound: [PlacedPolicy] = [], backend: [PlacedPolicy] = [], outbound: [PlacedPolicy] = [],
        onError: [PlacedPolicy] = []
    ) {
        self.inbound = inbound
        self.backend = backend
        self.outbound = outbound
        self.onError = onError
    }

    public var isEmpty: Bool { inbound.isEmpty && backend.isEmpty && outbound.isEmpty && onError.isEmpty }
}

/// The four sections of an APIM policy document, in the order APIM runs them.
public enum PolicySection: String, Codable, Sendable, CaseIterable {
    case inbound, backend, outbound, onError = "on-error"
}

/// A policy together with the place in the user's source that declared it.
public struct PlacedPolicy: Codable, Sendable, Hashable {
    public var policy: Policy
    @Located public var location: SourceLocation?

    public init(_ policy: Policy, location: SourceLocation? = nil) {
        self.policy = policy
        self.location = location
    }
}

/// A policy statement written by the user. Typed cases cover what Tollgate understands;
/// `node` carries any other APIM policy verbatim.
public indirect enum Policy: Codable, Sendable, Hashable {
    /// `<base />`: run the enclosing scope's policies here.
    case base
    /// `<include-fragment fragment-id="…" />`.
    case includeFragment(String)
    /// `<set-header name="…" exists-action="…"><value>…</value></set-header>`.
    case setHeader(name: String, values: [String], existsAction: HeaderExistsAction)
    case cors(CORS)
    case validateAzureADToken(AzureADTokenValidation)
    /// `<choose>`: the first `when` whose condition holds runs, else `otherwise`.
    case choose(whens: [When], otherwise: [PlacedPolicy]?)
    /// `<retry>` around the nested policies.
    case retry(Retry, [PlacedPolicy])
    /// Any other policy element, written as-is.
    case node(PolicyNode)
    /// `<!--…-->` between policies, written byte for byte (it must not contain `--` or end in `-`).
    case comment(String)
}

public enum HeaderExistsAction: String, Codable, Sendable, CaseIterable {
    case override, skip, append, delete
}

/// One branch of `choose`.
public struct When: Codable, Sendable, Hashable {
    /// A boolean policy expression, e.g. `@(context.Request.Method == "POST")`.
    public var condition: String
    public var policies: [PlacedPolicy]

    public init(condition: String, policies: [PlacedPolicy]) {
        self.condition = condition
        self.policies = policies
    }
}

/// Retry settings (`retry` policy).
public struct Retry: Codable, Sendable, Hashable {
    public var condition: String
    public var count: Int
    public var intervalSeconds: Int
    public var maxIntervalSeconds: Int?
    public var deltaSeconds: Int?
    public var firstFastRetry: Bool

    public init(
        condition: String, count: Int, intervalSeconds: Int, maxIntervalSeconds: Int? = nil, deltaSeconds: Int? = nil,
        firstFastRetry: Bool = false
    ) {
        self.condition = condition
        self.count = count
        self.intervalSeconds = intervalSeconds
        self.maxIntervalSeconds = maxIntervalSeconds
        self.deltaSeconds = deltaSeconds
        self.firstFastRetry = firstFastRetry
    }
}

/// Cross-origin settings (`cors` policy).
public struct CORS: Codable, Sendable, Hashable {
    public var allowedOrigins: [String]
    public var allowedMethods: [String]
    public var allowedHeaders: [String]
    public var exposeHeaders: [String]
    public var allowCredentials: Bool
    public var preflightResultMaxAge: Int?

    public init(
        allowedOrigins: [String], allowedMethods: [String] = ["POST"], allowedHeaders: [String] = ["*"],
        exposeHeaders: [String] = [], allowCredentials: Bool = false, preflightResultMaxAge: Int? = nil
    ) {
        self.allowedOrigins = allowedOrigins
        self.allowedMethods = allowedMethods
        self.allowedHeaders = allowedHeaders
        self.exposeHeaders = exposeHeaders
        self.allowCredentials = allowCredentials
        self.preflightResultMaxAge = preflightResultMaxAge
    }
}

/// Entra ID token validation (`validate-azure-ad-token`).
public struct AzureADTokenValidation: Codable, Sendable, Hashable {
    public var tenantId: String
    public var audiences: [String]
    public var clientApplicationIds: [String]
    /// Required claims: name → accepted values (any match).
    public var requiredClaims: [String: [String]]
    public var failedStatusCode: Int
    public var failedMessage: String

    public init(
        tenantId: String, audiences: [String] = [], clientApplicationIds: [String] = [],
        requiredClaims: [String: [String]] = [:], failedStatusCode: Int = 401, failedMessage: String = "Unauthorized"
    ) {
        self.tenantId = tenantId
        self.audiences = audiences
        self.clientApplicationIds = clientApplicationIds
        self.requiredClaims = requiredClaims
        self.failedStatusCode = failedStatusCode
        self.failedMessage = failedMessage
    }
}

/// A generic policy element: name, ordered attributes, and content (child elements and text, in order).
public struct PolicyNode: Codable, Sendable, Hashable {
    public struct Attribute: Codable, Sendable, Hashable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// One piece of an element's content.
    public indirect enum Content: Codable, Sendable, Hashable {
        case element(PolicyNode)
        /// Text (an expression, a literal, or a payload such as a liquid template), unescaped.
        case text(String)
        /// `<!--…-->`, byte for byte.
        case comment(String)
    }

    public var name: String
    public var attributes: [Attribute]
    public var content: [Content]

    public init(_ name: String, attributes: [Attribute] = [], content: [Content]) {
        self.name = name
        self.attributes = attributes
        self.content = content
    }

    /// An element with child elements, or with text when `text` is given.
    public init(_ name: String, attributes: [Attribute] = [], children: [PolicyNode] = [], text: String? = nil) {
        self.init(name, attributes: attributes, content: text.map { [.text($0)] } ?? children.map { .element($0) })
    }

    /// The child elements.
    public var children: [PolicyNode] {
        content.compactMap { if case .element(let node) = $0 { node } else { nil } }
    }
}

/// A policy document written by hand (or imported from an existing file) and emitted as declared,
/// with no generated policies added: `policies/<path>`.
public struct PolicyDocumentDeclaration: Codable, Sendable, Hashable {
    public enum Body: Codable, Sendable, Hashable {
        /// A `<policies>` document; sections in order, an empty section kept as `<section />`.
        case policies([DeclaredSection])
        /// A `<fragment>`.
        case fragment([PlacedPolicy])
    }

    /// Path under `policies/`, e.g. `imported/apis/echo/policy.xml`.
    public var path: String
    /// The scope it is attached to (`global`, `product`, `api`, `operation`, `workspace`), when known.
    public var scope: String?
    public var body: Body
    /// Comments written before the root element (such as the portal's "IMPORTANT" note), byte for byte.
    public var leadingComments: [String]
    @Located public var location: SourceLocation?

    public init(path: String, scope: String?, body: Body, leadingComments: [String] = [], location: SourceLocation? = nil) {
        self.path = path
        self.scope = scope
        self.body = body
        self.leadingComments = leadingComments
        self.location = location
    }
}

/// One section of a declared policy document.
public struct DeclaredSection: Codable, Sendable, Hashable {
    public var section: PolicySection
    public var policies: [PlacedPolicy]

    public init(section: PolicySection, policies: [PlacedPolicy]) {
        self.section = section
        self.policies = policies
    }
}

/// A reusable policy fragment (`<fragment>…</fragment>`), included with `include-fragment`.
public struct PolicyFragment: Codable, Sendable, Hashable {
    public var id: String
    public var description: String?
    public var policies: [PlacedPolicy]
    @Located public var location: SourceLocation?

    public init(id: String, description: String? = nil, policies: [PlacedPolicy], location: SourceLocation? = nil) {
        self.id = id
        self.description = description
        self.policies = policies
        self.location = location
    }
}
