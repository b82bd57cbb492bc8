/// A typed Bicep syntax tree. Emitters build these values; `BicepRenderer` turns them into text.
/// Nothing in the emitters concatenates Bicep source by hand.
public indirect enum BicepExpr: Sendable, Hashable {
    /// A single-quoted string literal.
    case string(String)
    /// An interpolated string: literal parts and `${expr}` holes.
    case interpolated([BicepStringPart])
    case int(Int)
    case bool(Bool)
    case null
    /// A bare identifier: parameter, variable, resource or module symbol, loop variable.
    case identifier(String)
    /// `base.name`
    case member(BicepExpr, String)
    /// `base[index]`
    case index(BicepExpr, BicepExpr)
    /// `name(args…)`, also `ns.name(args…)` when `name` contains a dot.
    case call(String, [BicepExpr])
    /// `base.name(args…)` (e.g. `workspace.listKeys()`).
    case methodCall(BicepExpr, String, [BicepExpr])
    case object([BicepProperty])
    case array([BicepExpr])
    /// `[for item in source: body]`
    case forLoop(item: String, index: String?, source: BicepExpr, body: BicepExpr)
    /// `condition ? whenTrue : whenFalse`
    case ternary(BicepExpr, BicepExpr, BicepExpr)
    /// `lhs op rhs` (`==`, `!=`, `&&`, `||`, `+`, `??`, …)
    case binary(BicepExpr, String, BicepExpr)

    /// `a.b.c` from a dotted path of identifiers.
    public static func path(_ dotted: String) -> BicepExpr {
        let parts = dotted.split(separator: ".").map(String.init)
        var expr = BicepExpr.identifier(parts[0])
        for part in parts.dropFirst() { expr = .member(expr, part) }
        return expr
    }

    /// `base.name`
    public func dot(_ name: String) -> BicepExpr { .member(self, name) }
}

public enum BicepStringPart: Sendable, Hashable {
    case literal(String)
    case expr(BicepExpr)
}

/// One `key: value` line of an object; `nil` values are dropped by the helpers below.
public struct BicepProperty: Sendable, Hashable {
    public var key: String
    /// An interpolated key such as `'${identity.id}'`; wins over `key` when set.
    public var interpolatedKey: [BicepStringPart]?
    public var value: BicepExpr

    public init(_ key: String, _ value: BicepExpr) {
        self.key = key
        self.interpolatedKey = nil
        self.value = value
    }

    public init(interpolatedKey: [BicepStringPart], _ value: BicepExpr) {
        self.key = ""
        self.interpolatedKey = interpolatedKey
        self.value = value
    }
}

/// Builds an object from optional properties, dropping the absent ones.
public func bicepObject(_ properties: [(String, BicepExpr?)]) -> BicepExpr {
    .object(properties.compactMap { key, value in value.map { BicepProperty(key, $0) } })
}

public struct BicepDecorator: Sendable, Hashable {
    public var name: String
    public var arguments: [BicepExpr]

    public init(_ name: String, _ arguments: [BicepExpr] = []) {
        self.name = name
        self.arguments = arguments
    }

    public static func description(_ text: String) -> BicepDecorator { .init("description", [.string(text)]) }
    public static func allowed(_ values: [BicepExpr]) -> BicepDecorator { .init("allowed", [.array(values)]) }
    public static func minValue(_ value: Int) -> BicepDecorator { .init("minValue", [.int(value)]) }
    public static func maxValue(_ value: Int) -> BicepDecorator { .init("maxValue", [.int(value)]) }
    public static func minLength(_ value: Int) -> BicepDecorator { .init("minLength", [.int(value)]) }
    public static func maxLength(_ value: Int) -> BicepDecorator { .init("maxLength", [.int(value)]) }
    public static let secure = BicepDecorator("secure")
}

/// Primitive Bicep types used for parameters and outputs. (`string[]` and user-defined types are
/// avoided on purpose: checkov's Bicep parser, pycep 0.5.1, rejects them.)
public enum BicepType: String, Sendable, Hashable {
    case string, int, bool, object, array
}

public enum BicepStatement: Sendable, Hashable {
    case comment(String)
    case targetScope(String)
    case metadata(name: String, value: BicepExpr)
    case param(name: String, type: BicepType, defaultValue: BicepExpr?, decorators: [BicepDecorator])
    case variable(name: String, value: BicepExpr, decorators: [BicepDecorator])
    /// `resource symbol 'Type@version' [existing] = [if (cond)] { body }`
    case resource(BicepResource)
    /// `module symbol 'path' = [if (cond)] { body }`
    case module(symbol: String, path: String, condition: BicepExpr?, body: BicepExpr, decorators: [BicepDecorator])
    case output(name: String, type: BicepType, value: BicepExpr, decorators: [BicepDecorator])
}

public struct BicepResource: Sendable, Hashable {
    public var symbol: String
    public var type: String
    public var apiVersion: String
    public var existing: Bool
    public var condition: BicepExpr?
    /// The resource body (an `.object`), or a `.forLoop` whose body is the object.
    public var body: BicepExpr
    public var decorators: [BicepDecorator]

    public init(
        symbol: String, type: String, apiVersion: String, existing: Bool = false, condition: BicepExpr? = nil,
        body: BicepExpr, decorators: [BicepDecorator] = []
    ) {
        self.symbol = symbol
        self.type = type
        self.apiVersion = apiVersion
        self.existing = existing
        self.condition = condition
        self.body = body
        self.decorators = decorators
    }
}

/// A whole `.bicep` file: statements separated by one blank line.
public struct BicepFile: Sendable, Hashable {
    public var statements: [BicepStatement]

    public init(_ statements: [BicepStatement] = []) { self.statements = statements }
}
