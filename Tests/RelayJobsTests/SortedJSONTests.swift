import Foundation
import Testing

@testable import PTUSimulator

/// The simulator's hand-written JSON must be byte for byte what `JSONSerialization` writes with
/// `.sortedKeys`: the relay tests compare the events a client receives with the simulator's log.
@Suite struct SortedJSONTests {
    static let strings = [
        "", "plain", "with \"quotes\"", "back\\slash", "a/b", "tab\tnew\nline\rret", "\u{08}\u{0C}\u{01}\u{1F}",
        "é ü 中文 🙂", "\u{7F}", " leading and trailing ",
    ]

    @Test func matchesFoundationForEveryShapeTheSimulatorWrites() throws {
        var values: [Any] = []
        for text in Self.strings {
            values.append(text)
            values.append(["content": text, "role": "assistant"])
            values.append([
                "choices": [["delta": ["content": text], "finish_reason": NSNull(), "index": 0, "logprobs": NSNull()]],
                "created": 1_700_000_000, "id": "chatcmpl-\(text)", "usage": NSNull(),
            ] as [String: Any])
        }
        values.append(["b": true, "a": false, "Z": 1, "_x": -5, "x_y": [1, 2, 3], "X": [String: Any](), "y": [Any]()])
        values.append(["completion_tokens": 3, "completion_tokens_details": ["reasoning_tokens": 0], "prompt_tokens": 9])
        for index in 0..<50 { values.append(["content": SimulatedTokens.token(index, seed: 7)]) }
        for value in values {
            let expected = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])
            #expect(SortedJSON.string(value) == String(decoding: expected, as: UTF8.self))
        }
    }
}
