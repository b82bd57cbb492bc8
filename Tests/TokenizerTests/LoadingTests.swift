import Foundation
import Testing
@testable import Tokenizer

@Suite("Loading encodings", .enabled(if: TestData.runDataTests))
struct LoadingTests {
    @Test("both encodings load and verify", arguments: EncodingName.allCases)
    func load(name: EncodingName) throws {
        let enc = try Encoding.load(name: name.rawValue, directory: TestData.encodings)
        #expect(enc.name == name)
        #expect(enc.vocabularySize == (name == .cl100k_base ? 100_277 : 200_019))
        #expect(enc.encodeOrdinary("hello world") == (name == .cl100k_base ? [15339, 1917] : [24912, 2375]))
    }

    @Test("TOLLGATE_ENCODINGS_DIR is the default directory")
    func environment() {
        let dir = Encoding.defaultDirectory(environment: ["TOLLGATE_ENCODINGS_DIR": "/tmp/x"])
        #expect(dir.path == "/tmp/x")
        let fallback = Encoding.defaultDirectory(environment: ["XDG_CACHE_HOME": "/tmp/cache"])
        #expect(fallback.path == "/tmp/cache/tollgate/encodings")
    }

    @Test("a truncated or altered file fails with a hash mismatch")
    func truncated() throws {
        let good = try Data(contentsOf: TestData.encodings.appendingPathComponent("cl100k_base.tiktoken"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-enc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try good.prefix(good.count / 2).write(to: dir.appendingPathComponent("cl100k_base.tiktoken"))
        #expect {
            try Encoding.load(.cl100k_base, directory: dir)
        } throws: { error in
            guard case TokenizerError.hashMismatch(let n, _, let expected, _) = error else { return false }
            return n == "cl100k_base" && expected == EncodingName.cl100k_base.sha256
        }
        var altered = good
        altered[10] ^= 1
        try altered.write(to: dir.appendingPathComponent("cl100k_base.tiktoken"))
        #expect(throws: TokenizerError.self) { try Encoding.load(.cl100k_base, directory: dir) }
    }

    @Test("a missing file and an unknown name fail clearly")
    func missing() {
        let dir = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString)")
        #expect(throws: TokenizerError.encodingFileMissing(
            name: "o200k_base", path: dir.appendingPathComponent("o200k_base.tiktoken").path)) {
            try Encoding.load(.o200k_base, directory: dir)
        }
        #expect(throws: TokenizerError.unknownEncoding("p50k_base")) { try Encoding.load(name: "p50k_base") }
        #expect(TokenizerError.encodingFileMissing(name: "x", path: "/y").description.contains("tollgate encodings install"))
    }

    @Test("model names map to encodings like tiktoken")
    func models() {
        let cases: [(String, EncodingName?)] = [
            ("gpt-4o", .o200k_base), ("gpt-4o-mini", .o200k_base), ("gpt-4o-2024-08-06", .o200k_base),
            ("gpt-4.1", .o200k_base), ("gpt-4.1-mini", .o200k_base), ("o1", .o200k_base), ("o3-mini", .o200k_base),
            ("o4-mini", .o200k_base), ("gpt-5", .o200k_base), ("gpt-5-mini", .o200k_base),
            ("gpt-4", .cl100k_base), ("gpt-4-0613", .cl100k_base), ("gpt-4-32k", .cl100k_base),
            ("gpt-3.5-turbo", .cl100k_base), ("gpt-35-turbo", .cl100k_base), ("gpt-35-turbo-16k", .cl100k_base),
            ("text-embedding-3-small", .cl100k_base), ("text-embedding-ada-002", .cl100k_base),
            ("llama-3", nil),
        ]
        for (model, expected) in cases {
            #expect(Encoding.name(forModel: model) == expected, "\(model)")
        }
    }
}
