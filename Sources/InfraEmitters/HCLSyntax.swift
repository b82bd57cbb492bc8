/// A typed HCL (Terraform) syntax tree. Emitters build these values; `HCLRenderer` formats them
/// exactly like `terraform fmt` does.
public indirect enum HCLExpr: Sendable, Hashable {
    /// A quoted string literal (escaped on rendering, including `${` and `%{`).
    case string(String)
    /// A string template: literal parts and `${expr}` interpolations.
    case template([HCLTemplatePart])
    case int(Int)
    /// A decimal literal kept as written, e.g. `0.5`.
    case decimal(String)
    case bool(Bool)
    case null
    /// A traversal such as `var.location` or `azurerm_api_management.main.id` or `x[0].y`.
    case traversal(String, [HCLTraversalStep])
    /// `name(args…)`
    case call(String, [HCLExpr])
    /// `{ key = value … }` (multi-line).
    case object([HCLAttribute])
    /// `[a, b]` on one line when every item is a scalar, else one item per line.
    case tuple([HCLExpr])
    /// `[for k, v in source : body]`
    case forTuple(key: String?, value: String, source: HCLExpr, body: HCLExpr)
    /// `condition ? a : b`
    case conditional(HCLExpr, HCLExpr, HCLExpr)
    /// `lhs op rhs`
    case binary(HCLExpr, String, HCLExpr)

    /// A traversal from a dotted path: `ref("azurerm_api_management.main.id")`.
    public static func ref(_ dotted: String) -> HCLExpr {
        let parts = dotted.split(separator: ".").map(String.init)
        return .traversal(parts[0], parts.dropFirst().map { .attribute($0) })
    }

    /// Appends `.name` to a traversal.
    public func dot(_ name: String) -> HCLExpr {
        if case .traversal(let root, let steps) = self { return .traversal(root, steps + [.attribute(name)]) }
        preconditionFailure("dot(_:) applies to traversals only")
    }

    /// Appends `[index]` to a traversal.
    public func at(_ index: Int) -> HCLExpr {
        if case .traversal(let root, let steps) = self { return .traversal(root, steps + [.index(index)]) }
        preconditionFailure("at(_:) applies to traversals only")
    }
}

public enum HCLTraversalStep: Sendable, Hashable {
    case attribute(String)
    case index(Int)
}

public enum HCLTemplatePart: Sendable, Hashable {
    case literal(String)
    case interpolation(HCLExpr)
}

public struct HCLAttribute: Sendable, Hashable {
    public var name: String
    public var value: HCLExpr

    public init(_ name: String, _ value: HCLExpr) {
        self.name = name
        self.value = value
    }
}

public struct HCLBlock: Sendable, Hashable {
    public var type: String
    public var labels: [String]
    public var body: [HCLBodyItem]

    public init(_ type: String, _ labels: [String] = [], _ body: [HCLBodyItem]) {
        self.type = type
        self.labels = labels
        self.body = body
    }
}

public enum HCLBodyItem: Sendable, Hashable {
    case attribute(HCLAttribute)
    case block(HCLBlock)
    /// An empty line (ends an alignment group, like in hand-written Terraform).
    case blank
    case comment(String)

    public static func attr(_ name: String, _ value: HCLExpr) -> HCLBodyItem { .attribute(HCLAttribute(name, value)) }
}

/// Builds body items from optional attributes, dropping the absent ones.
public func hclAttributes(_ attributes: [(String, HCLExpr?)]) -> [HCLBodyItem] {
    attributes.compactMap { name, value in value.map { HCLBodyItem.attr(name, $0) } }
}

/// A whole `.tf` file: top-level blocks separated by one blank line.
public struct HCLFile: Sendable, Hashable {
    public var items: [HCLBodyItem]

    public init(_ items: [HCLBodyItem] = []) { self.items = items }
}
