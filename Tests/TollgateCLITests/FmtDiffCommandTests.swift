import Foundation
import Testing
@testable import TollgateCLI

/// `tollgate fmt` and `tollgate diff` on real files and folders: exit statuses CI relies on.
@Suite struct FmtDiffCommandTests {
    static let policy = "<policies>\n  <inbound>\n    <base />\n    <set-header name=\"x-a\" exists-action=\"override\">\n      <value>1</value>\n    </set-header>\n  </inbound>\n  <backend>\n    <base />\n  </backend>\n  <outbound>\n    <base />\n  </outbound>\n  <on-error>\n    <base />\n  </on-error>\n</policies>\n"

    func folder(_ files: [String: String]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-fmtdiff-\(UUID().uuidString)")
        for (relative, text) in files {
            let url = root.appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        return root
    }

    func run(_ arguments: [String]) async -> Int32 {
        await TollgateCLI.exitStatus(RootCommand.self, arguments: arguments)
    }

    @Test func diffOfFoldersIgnoresFormattingAndReportsRealChanges() async throws {
        let reordered = Self.policy.replacingOccurrences(
            of: "name=\"x-a\" exists-action=\"override\"", with: "exists-action=\"override\"   name=\"x-a\"")
        let old = try folder(["apis/a.xml": Self.policy, "b.xml": Self.policy, "notes.txt": "ignored"])
        let same = try folder(["apis/a.xml": reordered, "b.xml": Self.policy])
        let changed = try folder(["apis/a.xml": Self.policy.replacingOccurrences(of: "<value>1</value>", with: "<value>2</value>")])
        defer { for url in [old, same, changed] { try? FileManager.default.removeItem(at: url) } }
        #expect(await run(["diff", old.path, same.path, "--color", "never"]) == 0)
        #expect(await run(["diff", old.path, changed.path, "--color", "never"]) == 1)
        #expect(await run(["diff", old.path, old.appendingPathComponent("missing").path]) == 2)
    }

    @Test func fmtCheckFindsUnformattedFilesAndFmtRewritesThem() async throws {
        let messy = Self.policy.replacingOccurrences(of: "\n    <base />\n    <set-header", with: "<base/>   <set-header")
        let root = try folder(["apis/a.xml": messy, "b.xml": Self.policy])
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(await run(["fmt", "--check", root.path]) == 1)
        #expect(try String(contentsOf: root.appendingPathComponent("apis/a.xml"), encoding: .utf8) == messy)
        #expect(await run(["fmt", root.path]) == 0)
        #expect(await run(["fmt", "--check", root.path]) == 0)
        #expect(await run(["diff", root.appendingPathComponent("apis/a.xml").path, root.appendingPathComponent("b.xml").path]) == 0)
    }

    @Test func fmtOfAMissingPathFailsWithTwoAndStillFormatsTheRest() async throws {
        let root = try folder(["a.xml": Self.policy])
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(await run(["fmt", "--check", root.appendingPathComponent("nope.xml").path, root.path]) == 2)
    }
}
