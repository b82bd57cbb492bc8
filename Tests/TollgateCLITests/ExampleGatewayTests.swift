import ArgumentParser
@testable import ContosoGateway
import Foundation
import GatewayModel
import PolicyCompiler
import PolicyXML
import Testing
@testable import TollgateCLI

/// The example gateway end to end: build, rebuild, drift detection, and outside validation.
@Suite struct ExampleGatewayTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Runs a gateway command in-process and returns its exit code.
    func run(_ arguments: [String]) async -> Int32 {
        await GatewayContext.$current.withValue(contoso) {
            await TollgateCLI.exitStatus(GatewayRootCommand.self, arguments: arguments)
        }
    }

    func snapshot(_ root: URL) throws -> [String: Data] {
        var files: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root.path)!
        while let relative = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let path = root.appendingPathComponent(relative).path
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                files[relative] = FileManager.default.contents(atPath: path)
            }
        }
        return files
    }

    @Test func exampleHasNoDiagnostics() {
        let (output, diagnostics) = GeneratedOutput.generate(contoso)
        #expect(diagnostics.isEmpty, "\(diagnostics.map(\.rendered))")
        #expect(output?.files.keys.contains("infrastructure/bicep/main.bicep") == true)
        #expect(output?.files.keys.contains("infrastructure/terraform/main.tf") == true)
    }

    @Test func buildTwiceIsByteIdenticalAndCheckPasses() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(await run(["build", "--out", directory.path]) == 0)
        let first = try snapshot(directory)
        #expect(first.keys.contains("policies/products/team-a.xml"))
        #expect(first.keys.contains("infrastructure/runtime-config.json"))
        let modified = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("policies/global.xml").path)[.modificationDate] as? Date
        try await Task.sleep(for: .milliseconds(20))
        #expect(await run(["build", "--out", directory.path]) == 0)
        #expect(try snapshot(directory) == first)
        let modifiedAgain = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("policies/global.xml").path)[.modificationDate] as? Date
        #expect(modified == modifiedAgain, "unchanged files must not be rewritten")
        #expect(await run(["check", "--out", directory.path]) == 0)
    }

    @Test func checkFailsAndNamesTheEditedFile() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(await run(["build", "--out", directory.path]) == 0)
        let edited = directory.appendingPathComponent("policies/products/team-a.xml")
        var text = try String(contentsOf: edited, encoding: .utf8)
        text = text.replacingOccurrences(of: "calls=\"120\"", with: "calls=\"999\"")
        try text.write(to: edited, atomically: true, encoding: .utf8)
        let changes = try #require(GeneratedOutput.generate(contoso).0).changes(against: directory)
        #expect(changes == [.modified("policies/products/team-a.xml")])
        #expect(await run(["check", "--out", directory.path]) == 1)

        // A stale policy file that the gateway no longer generates is drift too, and build removes it.
        try "<policies />\n".write(to: directory.appendingPathComponent("policies/products/old.xml"), atomically: true, encoding: .utf8)
        #expect(await run(["build", "--out", directory.path]) == 0)
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("policies/products/old.xml").path))
        #expect(await run(["check", "--out", directory.path]) == 0)
    }

    @Test func committedExampleOutputIsCurrent() throws {
        let changes = try #require(GeneratedOutput.generate(contoso).0).changes(against: Self.packageRoot)
        #expect(changes.isEmpty, "run `swift run contoso-gateway build`: \(changes)")
    }

    @Test func exampleValidatesAgainstMicrosoftXSD() throws {
        let xsd = Self.packageRoot.deletingLastPathComponent().appendingPathComponent("shared/apim-xsd/policies.xsd")
        guard FileManager.default.fileExists(atPath: xsd.path) else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("missing \(xsd.path) under CI") }
            return
        }
        let validator = try SchemaValidator(schemaPath: xsd.path)
        for document in GatewayCompiler().compile(contoso).documents {
            let issues = validator.validate(XMLWriter(format: .escaped).write(document.root.schemaView()))
            #expect(issues.isEmpty, "\(document.path): \(issues)")
        }
    }

    @Test func usageErrorsExitWithTwo() async {
        #expect(await run(["build", "--xml", "fancy"]) == 2)
        #expect(await run(["no-such-command"]) == 2)
    }

    @Test func unwritableOutputExitsWithTwo() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let blocker = directory.appendingPathComponent("policies")
        try "not a folder".write(to: blocker, atomically: true, encoding: .utf8)
        #expect(await run(["build", "--out", directory.path]) == 2)
    }
}
