import GatewayModel
import PolicyXML

/// One generated policy file: a `<policies>` document at a scope or a `<fragment>`.
public struct PolicyDocument: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// A `<policies>` document; the scope is nil for a declared document of unknown scope.
        case policies(PolicyScope?)
        case fragment
    }

    /// Path relative to the output directory, e.g. `policies/products/team-a.xml`.
    public var path: String
    public var kind: Kind
    public var root: XMLElement
    /// Declarations behind top-level policies, keyed by index path (section index, policy index).
    public var origins: [[Int]: SourceLocation]
    /// Where the owning declaration (product, API, fragment, gateway) was written.
    public var owner: SourceLocation?
    /// Comments written before the root element, one per line.
    public var leadingComments: [String] = []

    /// The file's text: the leading comments, then the root written by `writer`.
    public func text(using writer: XMLWriter) -> String {
        leadingComments.map { "<!--\($0)-->\n" }.joined() + writer.write(root)
    }

    public var scope: PolicyScope? {
        if case .policies(let scope) = kind { return scope }
        return nil
    }

    /// The fragment id of a fragment document (its file name without `.xml`).
    public var fragmentID: String? {
        guard kind == .fragment else { return nil }
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return name.hasSuffix(".xml") ? String(name.dropLast(4)) : name
    }
}

/// Where generated files go, relative to the output directory. Bicep and Terraform load the
/// policy files from these paths, so they are part of the contract between emitters.
public enum OutputLayout {
    public static let globalPolicy = "policies/global.xml"
    public static func apiPolicy(_ id: String) -> String { "policies/apis/\(id).xml" }
    public static func productPolicy(_ id: String) -> String { "policies/products/\(id).xml" }
    public static func fragment(_ id: String) -> String { "policies/fragments/\(id).xml" }
    public static let runtimeConfiguration = "infrastructure/runtime-config.json"
}

/// Small constructors that keep the translator readable: attributes with nil values are omitted,
/// and attribute order is exactly the order written.
enum X {
    static func element(_ name: String, _ attributes: [(String, String?)] = [], _ children: [XMLElement] = []) -> XMLElement {
        XMLElement(
            name,
            attributes: attributes.compactMap { pair in pair.1.map { XMLAttribute(pair.0, $0) } },
            children: children.map { .element($0) })
    }

    static func text(_ name: String, _ text: String) -> XMLElement { self.text(name, attributes: [], text) }

    static func text(_ name: String, attributes: [(String, String?)], _ text: String) -> XMLElement {
        XMLElement(name, attributes: attributes.compactMap { pair in pair.1.map { XMLAttribute(pair.0, $0) } }, text: text)
    }

    static func header(_ name: String, _ value: String, action: String = "override") -> XMLElement {
        element("set-header", [("name", name), ("exists-action", action)], [text("value", value)])
    }

    static func bool(_ value: Bool) -> String { value ? "true" : "false" }
}
