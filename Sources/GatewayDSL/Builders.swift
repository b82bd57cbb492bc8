@_exported import GatewayModel

/// Something that can appear in a `Gateway { … }` block.
public protocol GatewayComponent: Sendable {
    func apply(to gateway: inout Gateway)
}

/// Something that can appear in a `Product { … }` block.
public protocol ProductComponent: Sendable {
    func apply(to product: inout Product)
}

/// Something that can appear in an `API { … }` block.
public protocol APIComponent: Sendable {
    func apply(to api: inout API)
}

/// Collects the components of a block. One generic implementation serves gateways, products and APIs.
@resultBuilder
public enum ComponentBuilder<Component> {
    public static func buildExpression(_ component: Component) -> [Component] { [component] }
    public static func buildExpression(_ components: [Component]) -> [Component] { components }
    public static func buildBlock(_ parts: [Component]...) -> [Component] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [Component]?) -> [Component] { part ?? [] }
    public static func buildEither(first part: [Component]) -> [Component] { part }
    public static func buildEither(second part: [Component]) -> [Component] { part }
    public static func buildArray(_ parts: [[Component]]) -> [Component] { parts.flatMap { $0 } }
    public static func buildLimitedAvailability(_ part: [Component]) -> [Component] { part }
}

public typealias GatewayBuilder = ComponentBuilder<any GatewayComponent>
public typealias ProductBuilder = ComponentBuilder<any ProductComponent>
public typealias APIBuilder = ComponentBuilder<any APIComponent>
