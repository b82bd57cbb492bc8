import Foundation
import GatewayRuntime
import Testing

/// The relay's fallback counter uses the real tokenizer files.
@Suite struct TokenizerCountingTests {
    static var encodings: URL? {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/encodings")
        if FileManager.default.fileExists(atPath: url.path) { return url }
        if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("missing \(url.path) under CI") }
        return nil
    }

    @Test func countsPromptsByTheChatRulesAndCompletionsByTheEncoding() throws {
        guard let directory = Self.encodings else { return }
        let counter = TokenizerCounting(directory: directory)
        #expect(Set(counter.availableEncodings().map(\.rawValue)) == ["cl100k_base", "o200k_base"])
        let body = Array(#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#.utf8)
        // The same request `tollgate tokens count --chat` counts: 3 per message + role + content + 3 priming.
        #expect(counter.promptTokens(requestBody: body, model: "gpt-4o") == 8)
        #expect(counter.completionTokens(text: "hello world", model: "gpt-4o") == 2)
        #expect(counter.completionTokens(text: "hello world", model: "gpt-4o-2024-11-20") == 2)
        #expect(counter.promptTokens(requestBody: Array("not json".utf8), model: "gpt-4o") == nil)
        #expect(counter.completionTokens(text: "x", model: "llama-3") == nil)
    }

    @Test func missingEncodingsMeanUnknownNotZero() {
        let counter = TokenizerCounting(directory: URL(fileURLWithPath: "/nonexistent"))
        #expect(counter.availableEncodings().isEmpty)
        #expect(counter.completionTokens(text: "hello", model: "gpt-4o") == nil)
    }
}
