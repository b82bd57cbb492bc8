import GatewayModel

/// Entry point used by `tollgate build` / `tollgate check`: every infrastructure file for a gateway,
/// keyed by path relative to the output root (`infrastructure/bicep/main.bicep`, …).
///
/// Output is deterministic (same input → byte-identical files), LF-only, with a final newline.
public enum InfrastructureEmitter {
    public static func files(for gateway: Gateway, options: InfrastructureOptions = .init()) throws -> [String: String] {
        let plan = try InfraPlan(gateway: gateway, options: options)
        var files = BicepEmitter.files(for: plan)
        for (path, text) in TerraformEmitter.files(for: plan) { files[path] = text }
        return files
    }
}

/// Bicep files only (`infrastructure/bicep/…`).
public enum BicepEmitter {
    public static func files(for gateway: Gateway, options: InfrastructureOptions = .init()) throws -> [String: String] {
        files(for: try InfraPlan(gateway: gateway, options: options))
    }
}

/// Terraform files only (`infrastructure/terraform/…`).
public enum TerraformEmitter {
    public static func files(for gateway: Gateway, options: InfrastructureOptions = .init()) throws -> [String: String] {
        files(for: try InfraPlan(gateway: gateway, options: options))
    }
}

/// Deployment settings that are not part of the gateway description itself. Everything here is
/// also a Bicep parameter / Terraform variable, so these are only the defaults written into them.
public struct InfrastructureOptions: Sendable, Hashable {
    /// Deploy the Tollgate runtime as an Azure Container App (when the gateway declares a runtime).
    /// When false, APIM's runtime URL named value gets `RuntimeEndpoint.url` instead.
    public var deployRuntime: Bool
    /// Port the runtime container listens on.
    public var runtimePort: Int
    /// Default replica bounds of the runtime (SQLite needs exactly one replica; use PostgreSQL for more).
    public var runtimeMinReplicas: Int
    public var runtimeMaxReplicas: Int
    /// Event Hub namespace SKU for Event Hub logging targets.
    public var eventHubSku: String
    /// Where the policy files live, relative to the output root (the policy compiler's layout).
    public var policiesDirectory: String

    public init(
        deployRuntime: Bool = true, runtimePort: Int = 8080, runtimeMinReplicas: Int = 1, runtimeMaxReplicas: Int = 1,
        eventHubSku: String = "Standard", policiesDirectory: String = "policies"
    ) {
        self.deployRuntime = deployRuntime
        self.runtimePort = runtimePort
        self.runtimeMinReplicas = runtimeMinReplicas
        self.runtimeMaxReplicas = runtimeMaxReplicas
        self.eventHubSku = eventHubSku
        self.policiesDirectory = policiesDirectory
    }
}

/// A gateway the emitters cannot turn into infrastructure; `element` names the offending part
/// (e.g. `backendPool "aoai-pool"`), `location` points into the user's source when known.
public struct InfrastructureError: Error, Sendable, Hashable, CustomStringConvertible {
    public var element: String
    public var message: String
    public var location: SourceLocation?

    public init(element: String, message: String, location: SourceLocation? = nil) {
        self.element = element
        self.message = message
        self.location = location
    }

    public var description: String {
        let prefix = location.map { "\($0): " } ?? ""
        return "\(prefix)error: \(element): \(message)"
    }
}
