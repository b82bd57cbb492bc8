import Foundation
import Testing
@testable import Tokenizer

/// The worked examples of the OpenAI cookbook "How to count tokens with tiktoken".
@Suite("Chat counting", .enabled(if: TestData.runDataTests))
struct ChatTests {
    static var messages: [[String: Any]] { [
        ["role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."],
        ["role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."],
        ["role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."],
        ["role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."],
        ["role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."],
        ["role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."],
    ] }

    static let toolsRequest = #"""
    {"model": "gpt-4o",
     "messages": [
       {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
       {"role": "user", "content": "What's the weather like in San Francisco?"}],
     "tools": [{"type": "function", "function": {
       "name": "get_current_weather",
       "description": "Get the current weather in a given location",
       "parameters": {"type": "object", "properties": {
         "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
         "unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]}},
         "required": ["location"]}}}]}
    """#

    @Test("messages example", arguments: [
        ("gpt-3.5-turbo", 129), ("gpt-4-0613", 129), ("gpt-4", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124),
        ("gpt-3.5-turbo-0301", 127),
    ])
    func messages(model: String, expected: Int) throws {
        let counter = try ChatTokenCounter(model: model, directory: TestData.encodings)
        #expect(counter.countMessages(Self.messages).tokens == expected)
    }

    @Test("tools example", arguments: [("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)])
    func tools(model: String, expected: Int) throws {
        let counter = try ChatTokenCounter(model: model, directory: TestData.encodings)
        let result = try counter.countRequest(json: Data(Self.toolsRequest.utf8))
        #expect(result.tokens == expected)
        #expect(result.notes.isEmpty)
    }

    @Test("image parts are ignored with a note; text parts count")
    func parts() throws {
        let counter = try ChatTokenCounter(model: "gpt-4o", directory: TestData.encodings)
        let json = #"""
        {"messages": [{"role": "user", "content": [
          {"type": "text", "text": "What is in this image?"},
          {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]}
        """#
        let result = try counter.countRequest(json: Data(json.utf8))
        let plain = counter.countMessages([["role": "user", "content": "What is in this image?"]])
        #expect(result.tokens == plain.tokens)
        #expect(result.notes.count == 1)
        #expect(result.notes[0].hasPrefix("warning:"))
        #expect(throws: ChatTokenCounter.RequestError.missingMessages) { try counter.countRequest(json: Data("{}".utf8)) }
        #expect(throws: ChatTokenCounter.RequestError.notJSONObject) { try counter.countRequest(json: Data("[1]".utf8)) }
    }

    @Test("streamed deltas: counted text, or the reported usage when present")
    func streaming() throws {
        let enc = try TestData.encoding(.o200k_base)
        var s = StreamingCompletionCounter(encoding: enc)
        let pieces = ["Hel", "lo", ", wor", "ld! It's", " a test."]
        for p in pieces {
            let chunk: [String: Any] = ["object": "chat.completion.chunk", "choices": [["index": 0, "delta": ["content": p]]]]
            let data = try JSONSerialization.data(withJSONObject: chunk)
            s.ingest(sseLine: "data: " + String(decoding: data, as: UTF8.self))
        }
        s.ingest(sseLine: "data: [DONE]")
        #expect(s.text() == pieces.joined())
        #expect(s.completionTokens == enc.count(pieces.joined()))
        s.ingest(sseLine: #"data: {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 11}}"#)
        #expect(s.completionTokens == 11)
        #expect(s.reportedPromptTokens == 9)
    }
}
