import Diagnostics
import Foundation
import GatewayModel
import PolicyXML

/// Compiles a gateway: validate the model → translate to policy documents → validate each
/// document against the rule table → render. Output is deterministic.
public struct GatewayCompiler: Sendable {
    /// The result of a compilation: files by relative path, and every diagnostic found.
    public struct Output: Sendable {
        public var documents: [PolicyDocument]
        /// Relative path → file contents, for every generated file.
        public var files: [String: String]
        public var diagnostics: [Diagnostic]

        public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
    }

    public var format: XMLWriter.Format

    public init(format: XMLWriter.Format = .raw) {
        self.format = format
    }

    public func compile(_ gateway: Gateway) -> Output {
        var validator = ModelValidator(gateway: gateway)
        var diagnostics = validator.run()
        let documents = PolicyTranslator(gateway: gateway).documents()
        let writer = XMLWriter(format: format)
        var files: [String: String] = [:]
        let known = knownNames(gateway, documents: documents)
        for document in documents {
            let text = document.text(using: writer)
            files[document.path] = text
            diagnostics += check(document, text: text, known: known)
        }
        files[OutputLayout.runtimeConfiguration] = Self.runtimeConfigurationJSON(gateway)
        return Output(documents: documents, files: files, diagnostics: diagnostics)
    }

    func knownNames(_ gateway: Gateway, documents: [PolicyDocument]) -> PolicyValidator.KnownNames {
        var namedValues = Set(gateway.namedValues.map(\.name))
        if let runtime = gateway.runtime {
            // The runtime's named values are always generated with the runtime.
            namedValues.insert(runtime.urlNamedValue)
            namedValues.insert(runtime.keyNamedValue)
        }
        let fragments = Set(documents.compactMap(\.fragmentID))
        // Backends are checked on the model (with the API's source line), not again in the XML.
        return PolicyValidator.KnownNames(fragments: fragments, namedValues: namedValues, backends: nil)
    }

    /// Rule-table findings for one document, mapped back to the declarations that produced them.
    func check(_ document: PolicyDocument, text: String, known: PolicyValidator.KnownNames) -> [Diagnostic] {
        let validator = PolicyValidator(known: known)
        let findings = validator.validate(document.root, scope: document.scope, file: nil, renderedBytes: text.utf8.count)
        return findings.map { finding in
            var diagnostic = finding.diagnostic
            let depth = document.kind == .fragment ? 1 : 2
            let origin = document.origins[Array(finding.indexPath.prefix(depth))] ?? document.owner
            diagnostic.location.file = origin?.fileID
            diagnostic.location.line = origin?.line
            diagnostic.location.column = nil
            diagnostic.notes.append("in generated \(document.path)")
            return diagnostic
        }
    }

    /// `infrastructure/runtime-config.json`: products, budgets, deployments and pricing for the runtime.
    public static func runtimeConfiguration(_ gateway: Gateway) -> RuntimeConfiguration {
        let targets = Dictionary(gateway.provisionedDeployments.map { ($0.backendId, $0.targetUtilizationPercent) }, uniquingKeysWith: { first, _ in first })
        let deployments = gateway.backends.compactMap { backend -> RuntimeConfiguration.DeploymentConfiguration? in
            guard let deployment = backend.deployment else { return nil }
            return RuntimeConfiguration.DeploymentConfiguration(
                name: deployment.name, model: deployment.model, sku: deployment.sku.rawValue, capacity: deployment.capacity,
                endpoint: backend.url, targetUtilizationPercent: targets[backend.id])
        }
        return RuntimeConfiguration(
            gateway: gateway.name, runtimeURL: gateway.runtime?.url, gatewayKeyNamedValue: gateway.runtime?.keyNamedValue,
            products: gateway.products.map {
                RuntimeConfiguration.ProductConfiguration(
                    id: $0.id, displayName: $0.displayName, budgets: $0.budgets,
                    defaultEstimatedTokens: $0.defaultEstimatedTokens, subscriptions: $0.subscriptions.map(\.id))
            },
            deployments: deployments, pricing: gateway.pricing)
    }

    public static func runtimeConfigurationJSON(_ gateway: Gateway) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain value types cannot fail.
        let data = try! encoder.encode(runtimeConfiguration(gateway))
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
