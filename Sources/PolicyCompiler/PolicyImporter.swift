import GatewayModel
import PolicyXML

/// Turns an existing policy file into model values: a typed policy where the model has one and it
/// reproduces the element exactly, the generic `PolicyNode` otherwise. Building the result gives
/// back the original document (semantically: same elements, attributes, text and expressions).
public enum PolicyImporter {
    /// Why a file could not be imported.
    public struct ImportError: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var message: String
        public var description: String { "\(path): \(message)" }

        public init(path: String, message: String) {
            self.path = path
            self.message = message
        }
    }

    /// A declared document for `root` (a `<policies>` or `<fragment>` element), to be emitted at
    /// `policies/<path>`. Comments are kept where the model can hold them: before the root, between
    /// policies and inside policy elements; comments between the sections of `<policies>` are not.
    public static func declaration(
        for root: XMLElement, path: String, scope: PolicyScope?, leadingComments: [String] = []
    ) throws -> PolicyDocumentDeclaration {
        switch root.name {
        case "fragment":
            return PolicyDocumentDeclaration(
                path: path, scope: nil, body: .fragment(placedList(root)), leadingComments: leadingComments)
        case "policies":
            var sections: [DeclaredSection] = []
            for element in root.elements {
                guard let section = PolicySection(rawValue: element.name) else {
                    throw ImportError(path: path, message: "<\(element.name)> at line \(element.position?.line ?? 0) is not a policy section")
                }
                sections.append(DeclaredSection(section: section, policies: placedList(element)))
            }
            if !root.attributes.isEmpty {
                throw ImportError(path: path, message: "attributes on <policies> cannot be represented")
            }
            return PolicyDocumentDeclaration(
                path: path, scope: scope?.rawValue, body: .policies(sections), leadingComments: leadingComments)
        default:
            throw ImportError(path: path, message: "root <\(root.name)> is not <policies> or <fragment>")
        }
    }

    /// The policies and comments among `element`'s children, in order.
    static func placedList(_ element: XMLElement) -> [PlacedPolicy] {
        element.children.compactMap { child in
            switch child {
            case .element(let element): PlacedPolicy(policy(for: element))
            case .comment(let text): PlacedPolicy(.comment(text))
            case .text, .cdata: nil
            }
        }
    }

    /// The typed policy when it renders back to the same canonical element (comments included),
    /// else a generic node.
    public static func policy(for element: XMLElement) -> Policy {
        if let typed = typedCandidate(element),
           Canonicalizer.canonicalize(PolicyTranslator.element(for: typed), keepComments: true)
            == Canonicalizer.canonicalize(element, keepComments: true) {
            return typed
        }
        return .node(node(for: element))
    }

    /// The generic form of an element: attributes in order, child elements, text and comments in
    /// order (adjacent text and CDATA merged, whitespace between elements dropped).
    public static func node(for element: XMLElement) -> PolicyNode {
        var content: [PolicyNode.Content] = []
        var pending = ""
        func flush() {
            if !pending.trimmingXMLWhitespace().isEmpty || (!pending.isEmpty && element.elements.isEmpty) {
                content.append(.text(pending))
            }
            pending = ""
        }
        for child in element.children {
            switch child {
            case .text(let text), .cdata(let text): pending += text
            case .comment(let text):
                flush()
                content.append(.comment(text))
            case .element(let child):
                flush()
                content.append(.element(node(for: child)))
            }
        }
        flush()
        return PolicyNode(element.name, attributes: element.attributes.map { .init($0.name, $0.value) }, content: content)
    }

    /// The generic form of any policy, as the compiler would write it; nil for a comment, which is no element.
    public static func genericNode(for policy: Policy) -> PolicyNode? {
        if case .comment = policy { return nil }
        return node(for: PolicyTranslator.element(for: policy))
    }

    /// A typed reading of the element, or nil when the model has no type for it.
    static func typedCandidate(_ element: XMLElement) -> Policy? {
        let attributes = Dictionary(element.attributes.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        switch element.name {
        case "base":
            return .base
        case "include-fragment":
            return attributes["fragment-id"].map(Policy.includeFragment)
        case "set-header":
            guard let name = attributes["name"], let action = attributes["exists-action"].flatMap(HeaderExistsAction.init(rawValue:))
            else { return nil }
            return .setHeader(name: name, values: element.elements.map(\.text), existsAction: action)
        case "choose":
            var whens: [When] = []
            var otherwise: [PlacedPolicy]?
            for branch in element.elements {
                if branch.name == "when", let condition = branch[attribute: "condition"] {
                    whens.append(When(condition: condition, policies: placedList(branch)))
                } else if branch.name == "otherwise" {
                    otherwise = placedList(branch)
                } else {
                    return nil
                }
            }
            // The DSL's When(…) has one branch; longer chains stay generic.
            return whens.count == 1 ? .choose(whens: whens, otherwise: otherwise) : nil
        case "retry":
            guard let condition = attributes["condition"], let count = attributes["count"].flatMap(Int.init),
                  let interval = attributes["interval"].flatMap(Int.init)
            else { return nil }
            let settings = Retry(
                condition: condition, count: count, intervalSeconds: interval,
                maxIntervalSeconds: attributes["max-interval"].flatMap(Int.init), deltaSeconds: attributes["delta"].flatMap(Int.init),
                firstFastRetry: attributes["first-fast-retry"]?.lowercased() == "true")
            return .retry(settings, placedList(element))
        default:
            return nil
        }
    }
}
