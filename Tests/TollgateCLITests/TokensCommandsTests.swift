import ArgumentParser
import Foundation
import Testing
import Tokenizer
@testable import TollgateCLI

/// `tollgate tokens count` / `tollgate encodings install` (no network: `--from DIR` only).
@Suite("tokens and encodings commands", .serialized)
struct TokensCommandsTests {
    static let shared = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("../shared/encodings").standardizedFileURL
    static let available = FileManager.default.fileExists(atPath: shared.appendingPathComponent("o200k_base.tiktoken").path)
        || ProcessInfo.processInfo.environment["CI"] == "true"

    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func exitCode(_ body: () async throws -> Void) async -> Int32 {
        do {
            try await body()
            return 0
        } catch let e as ExitCode {
            return e.rawValue
        } catch {
            return -1
        }
    }

    @Test("install --from copies and verifies; a truncated file is refused", .enabled(if: available))
    func install() async throws {
        let dest = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dest) }
        var cmd = try EncodingsCommand.Install.parse(["--from", Self.shared.path, "--dir", dest.path])
        try await cmd.run()
        for name in EncodingName.allCases {
            let data = try Data(contentsOf: dest.appendingPathComponent(name.fileName))
            #expect(SHA256.hexDigest(data) == name.sha256)
        }
        #expect(try Encoding.load(.o200k_base, directory: dest).count("hello world") == 2)

        let bad = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: bad) }
        let good = try Data(contentsOf: Self.shared.appendingPathComponent("cl100k_base.tiktoken"))
        try good.prefix(1000).write(to: bad.appendingPathComponent("cl100k_base.tiktoken"))
        let dest2 = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dest2) }
        cmd = try EncodingsCommand.Install.parse(["--from", bad.path, "--dir", dest2.path, "cl100k_base"])
        #expect(await Self.exitCode { try await cmd.run() } == 1)
        #expect(!FileManager.default.fileExists(atPath: dest2.appendingPathComponent("cl100k_base.tiktoken").path))
        cmd = try EncodingsCommand.Install.parse(["--from", "/nonexistent", "--dir", dest2.path])
        #expect(await Self.exitCode { try await cmd.run() } == 2)
    }

    @Test("count: exit codes for good input, a disallowed special token, bad usage", .enabled(if: available))
    func count() async throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let plain = dir.appendingPathComponent("plain.txt"), special = dir.appendingPathComponent("special.txt")
        try Data("hello world".utf8).write(to: plain)
        try Data("x <|endoftext|>".utf8).write(to: special)
        let chat = dir.appendingPathComponent("chat.json")
        try Data(#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#.utf8).write(to: chat)
        let enc = ["--encodings-dir", Self.shared.path]
        let cases: [([String], Int32)] = [
            ([plain.path], 0),
            (["--model", "gpt-4", "--ids", plain.path], 0),
            ([special.path], 1),
            (["--ordinary", special.path], 0),
            (["--allow-special", "all", special.path], 0),
            (["--chat", chat.path], 0),
            (["--chat", plain.path], 1),
            (["--encoding", "p50k_base", plain.path], 2),
            (["--model", "llama", plain.path], 2),
            (["/nonexistent/file"], 2),
        ]
        for (args, expected) in cases {
            let cmd = try TokensCommand.Count.parse(enc + args)
            #expect(await Self.exitCode { try await cmd.run() } == expected, "\(args)")
        }
    }
}
