import Foundation
import GatewayModel
import InfraEmitters
import Testing

/// Runs the real offline validators of `../shared/iac-kit` on generated output. Skipped when the
/// kit or its virtualenvs are missing — except with `CI=true`, where that is a failure.
@Suite(.serialized, .enabled(if: IaCKit.shouldRun)) struct ValidatorTests {
    @Test func sampleGatewayPassesAllValidators() throws {
        try IaCKit.validate(SampleGateway.gateway)
    }

    @Test func existingServiceGatewayPassesAllValidators() throws {
        try IaCKit.validate(ExistingServiceGateway.gateway, options: ExistingServiceGateway.options)
    }

    @Test func minimalConsumptionGatewayPassesAllValidators() throws {
        try IaCKit.validate(Gateway(name: "m", service: APIMService(name: "m-apim", sku: .consumption, publisherEmail: "a@b.c", publisherName: "M")))
    }

    /// The script CI runs on the example gateway's output.
    @Test func validateInfrastructureScriptPasses() throws {
        try #require(IaCKit.available, "iac-kit or its venvs missing")
        let root = try IaCKit.writeOutput(SampleGateway.gateway)
        defer { try? FileManager.default.removeItem(at: root) }
        let script = IaCKit.packageRoot.appendingPathComponent("scripts/validate-infrastructure.sh").path
        let result = try IaCKit.run("/bin/bash", [script, root.path])
        #expect(result.status == 0 && result.output.contains("all infrastructure validators passed"), "\(result.output)")
    }
}

enum IaCKit {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// `<package root>/../shared/iac-kit`
    static let kit = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/iac-kit")
    static let venvRoot: URL = {
        if let root = ProcessInfo.processInfo.environment["VENV_ROOT"] { return URL(fileURLWithPath: root) }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/iac-kit-venvs")
    }()
    static let venvs = ["venv", "venv-hcl2", "venv-bicep", "venv-tf"]

    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    static var available: Bool {
        FileManager.default.fileExists(atPath: kit.appendingPathComponent("validate_bicep.py").path)
            && venvs.allSatisfy { FileManager.default.isExecutableFile(atPath: venvRoot.appendingPathComponent("\($0)/bin/python").path) }
    }

    /// Runs when the kit is there; on CI it always runs (and fails if the kit is missing).
    static var shouldRun: Bool { available || isCI }

    /// The checkov findings accepted on purpose (docs/infrastructure.md explains each).
    static let acceptedCheckovFindings = "CKV_AZURE_107,CKV_AZURE_174,CKV_AZURE_134,CKV_AZURE_247,CKV2_AZURE_22"

    static func validate(_ gateway: Gateway, options: InfrastructureOptions = .init()) throws {
        try #require(available, "iac-kit or its venvs missing: \(kit.path), \(venvRoot.path) (run the kit's setup.sh)")
        let root = try writeOutput(gateway, options: options)
        defer { try? FileManager.default.removeItem(at: root) }
        let bicep = root.appendingPathComponent("infrastructure/bicep").path
        let terraform = root.appendingPathComponent("infrastructure/terraform").path
        func python(_ venv: String) -> String { venvRoot.appendingPathComponent("\(venv)/bin/python").path }
        func script(_ name: String) -> String { kit.appendingPathComponent(name).path }

        let bicepResult = try run(python("venv-bicep"), [script("validate_bicep.py"), "--strict", bicep])
        #expect(bicepResult.status == 0, "validate_bicep.py --strict:\n\(bicepResult.output)")
        let tfResult = try run(python("venv-hcl2"), [script("validate_tf.py"), "--strict-azapi", terraform])
        #expect(tfResult.status == 0 && tfResult.output.contains(" 0 error(s)"), "validate_tf.py --strict-azapi:\n\(tfResult.output)")
        let fmtResult = try run(python("venv-tf"), [script("tf_fmt_check.py"), terraform])
        #expect(fmtResult.status == 0, "tf_fmt_check.py:\n\(fmtResult.output)")
        let checkov = venvRoot.appendingPathComponent("venv/bin/checkov").path
        for (framework, directory) in [("bicep", bicep), ("terraform", terraform)] {
            let result = try run(checkov, ["-d", directory, "--framework", framework, "--skip-download", "--compact", "-o", "cli",
                                           "--skip-check", acceptedCheckovFindings])
            #expect(result.status == 0 && result.output.contains("Passed checks") && !result.output.contains("Parsing errors"),
                    "checkov \(framework):\n\(result.output)")
        }
    }

    /// Writes the generated infrastructure plus placeholder policy files and runtime configuration
    /// into a fresh temporary output root laid out like `tollgate build`'s.
    static func writeOutput(_ gateway: Gateway, options: InfrastructureOptions = .init()) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-iac-\(UUID().uuidString)")
        var files = try InfrastructureEmitter.files(for: gateway, options: options)
        for (path, text) in placeholderPolicies(for: gateway) { files[path] = text }
        files["infrastructure/runtime-config.json"] = "{\n  \"version\": 1\n}\n"
        for (path, text) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        return root
    }

    /// One policy file per scope, laid out like the policy compiler writes them.
    static func placeholderPolicies(for gateway: Gateway) -> [String: String] {
        let document = """
        <policies>
            <inbound>
                <base />
                <set-header name="x-request-id" exists-action="skip">
                    <value>@(context.RequestId.ToString())</value>
                </set-header>
            </inbound>
            <backend>
                <base />
            </backend>
            <outbound>
                <base />
            </outbound>
            <on-error>
                <base />
            </on-error>
        </policies>

        """
        var files = ["policies/global.xml": document]
        for api in gateway.apis { files["policies/apis/\(api.id).xml"] = document }
        for product in gateway.products { files["policies/products/\(product.id).xml"] = document }
        for fragment in gateway.fragments {
            files["policies/fragments/\(fragment.id).xml"] = "<fragment>\n    <set-variable name=\"fragment\" value=\"\(fragment.id)\" />\n</fragment>\n"
        }
        return files
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["VENV_ROOT"] = venvRoot.path
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
