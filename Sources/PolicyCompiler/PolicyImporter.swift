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
    /// `policies/<path>`.
    public static func declaration(for root: XMLElement, path: String, scope: PolicyScope?) throws -> PolicyDocumentDeclaration {
        switch root.name {
        case "fragment":
            return PolicyDocumentDeclaration(path: path, scope: nil, body: .fragment(root.elements.map(placed)))
        case "policies":
            var sections: [DeclaredSection] = []
            for element in root.elements {
                guard let section = PolicySection(rawValue: element.name) else {
                    throw ImportError(path: path, message: "<\(element.name)> at line \(element.position?.line ?? 0) is not a policy section")
                }
                sections.append(DeclaredSection(section: section, policies: element.elements.map(placed)))
            }
            if !root.attributes.isEmpty {
                throw ImportError(path: path, message: "attributes on <policies> cannot be represented")
            }
            return PolicyDocumentDeclaration(path: path, scope: scope?.rawValue, body: .policies(sections))
        default:
            throw ImportError(path: path, message: "root <\(root.name)> is not <policies> or <fragment>")
        }
    }

    static func placed(_ element: XMLElement) -> PlacedPolicy { PlacedPolicy(policy(for: element)) }

    /// The typed policy when it renders back to the same canonical element, else a generic node.
    public static func policy(for element: XMLElement) -> Policy {
        if let typed = typedCandidate(element),
           Canonicalizer.canonicalize(PolicyTranslator.element(for: typed)) == Canonicalizer.canonicalize(element) {
            return typed
        }
        return .node(node(for: element))
    }

    /// The generic form of an element: attributes in order, child elements and text in order
    /// (adjacent text and CDATA merged, whitespace between elements and comments dropped).
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
            case .comment: break
            case .element(let child):
                flush()
                content.append(.element(node(for: child)))
            }
        }
        flush()
        return PolicyNode(element.name, attributes: element.attributes.map { .init($0.name, $0.value) }, content: content)
    }

    /// The generic form of any policy, as the compiler would write it.
    public static func genericNode(for policy: Policy) -> PolicyNode {
        node(for: PolicyTranslator.element(for: policy))
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
                    whens.append(When(condition: condition, policies: branch.elements.map(placed)))
                } else if branch.name == "otherwise" {
                    otherwise = branch.elements.map(placed)
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
            return .retry(settings, element.elements.map(placed))
        default:
            return nil
        }
    }
}
