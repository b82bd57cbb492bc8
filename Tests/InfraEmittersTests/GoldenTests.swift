import Foundation
import GatewayModel
import Testing
@testable import InfraEmitters

/// Golden-file tests: the generated Bicep and Terraform for `SampleGateway` must match the files
/// under `Golden/` byte for byte. Regenerate with `TOLLGATE_UPDATE_GOLDEN=1 swift test --filter InfraEmittersTests`.
@Suite struct GoldenTests {
    static let goldenRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    static var updating: Bool { ProcessInfo.processInfo.environment["TOLLGATE_UPDATE_GOLDEN"] == "1" }

    /// `files` are keyed by output-root-relative paths; `root` is the golden output root under `Golden/`.
    static func check(_ files: [String: String], under prefix: String, root: String = "") throws {
        let goldenRoot = root.isEmpty ? goldenRoot : goldenRoot.appendingPathComponent(root)
        let directory = goldenRoot.appendingPathComponent(prefix)
        if updating {
            try? FileManager.default.removeItem(at: directory)
            for (path, text) in files {
                let url = goldenRoot.appendingPathComponent(path)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(text.utf8).write(to: url)
            }
        }
        let expected = try goldenFiles(under: prefix, root: goldenRoot)
        #expect(Set(files.keys) == Set(expected.keys), "generated file set differs from Golden/\(prefix)")
        for (path, text) in files.sorted(by: { $0.key < $1.key }) {
            #expect(text == expected[path], "\(path) differs from its golden file (TOLLGATE_UPDATE_GOLDEN=1 regenerates)")
        }
    }

    static func goldenFiles(under prefix: String, root: URL) throws -> [String: String] {
        let directory = root.appendingPathComponent(prefix)
        var result: [String: String] = [:]
        guard let enumerator = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else { return [:] }
        for case let url as URL in enumerator where !url.hasDirectoryPath {
            let relative = prefix + "/" + url.path.dropFirst(directory.path.count + 1)
            result[relative] = try String(contentsOf: url, encoding: .utf8)
        }
        return result
    }

    @Test func bicepMatchesGolden() throws {
        try GoldenTests.check(try BicepEmitter.files(for: SampleGateway.gateway), under: "infrastructure/bicep")
    }

    @Test func terraformMatchesGolden() throws {
        try GoldenTests.check(try TerraformEmitter.files(for: SampleGateway.gateway), under: "infrastructure/terraform")
    }

    /// An existing APIM service in another resource group, runtime hosted elsewhere.
    @Test func existingServiceMatchesGolden() throws {
        let files = try InfrastructureEmitter.files(for: ExistingServiceGateway.gateway, options: ExistingServiceGateway.options)
        try GoldenTests.check(files, under: "infrastructure", root: "existing-service")
    }
}
