import Foundation
import Testing

/// The DSL's section types at compile time: inbound-only policies compile inside `Inbound {}` and are
/// compile errors elsewhere. Each case type-checks a small file against the built modules with the
/// same `swiftc`.
@Suite struct SectionTypingTests {
    /// The folder holding the built `.swiftmodule`s next to the test binary.
    static var modulesFolder: URL? {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("Modules"),
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".build/debug/Modules"),
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("GatewayDSL.swiftmodule").path) }
    }

    /// Type-checks `body` (statements inside a closure that imports the DSL); returns swiftc's diagnostics, nil when it compiled.
    static func typecheck(_ body: String) throws -> String? {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-typing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("Gateway.swift")
        try "import GatewayDSL\nimport GatewayModel\n\(body)\n".write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["swiftc", "-typecheck", "-I", modulesFolder!.path, file.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return process.terminationStatus == 0 ? nil : text
    }

    @Test func inboundOnlyPoliciesAreCompileErrorsOutsideInbound() throws {
        guard Self.modulesFolder != nil else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("built modules not found next to the test binary") }
            return
        }
        // The control: the same statements compile where they belong.
        let inbound = try Self.typecheck("""
            let section = Inbound {
                Base()
                Cors(origins: ["https://contoso.example"])
                ValidateEntraToken(tenant: "contoso.onmicrosoft.com", audiences: ["api://tollgate"])
            }
            """)
        #expect(inbound == nil, "\(inbound ?? "")")

        for (section, statement) in [
            ("Outbound", #"Cors(origins: ["*"])"#),
            ("BackendSection", #"Cors(origins: ["*"])"#),
            ("OnError", #"ValidateEntraToken(tenant: "t", audiences: ["a"])"#),
        ] {
            let errors = try Self.typecheck("let section = \(section) {\n    Base()\n    \(statement)\n}")
            #expect(errors?.contains("InboundCapableContext") == true, "\(section): \(errors ?? "compiled")")
        }
    }
}
