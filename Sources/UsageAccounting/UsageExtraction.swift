public import GatewayModel

/// Reads token counts out of a raw Azure OpenAI response body (or just its `usage` object).
///
/// Chat Completions: `prompt_tokens`, `completion_tokens`, `prompt_tokens_details.cached_tokens`,
/// `completion_tokens_details.reasoning_tokens`. Responses API: `input_tokens`, `output_tokens`,
/// `input_tokens_details.cached_tokens`, `output_tokens_details.reasoning_tokens`. Embeddings have
/// `prompt_tokens` only.
public enum UsageExtractor {
    /// Why a raw body could not be read.
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case noUsage
        case invalid(String)

        public var description: String {
            switch self {
            case .noUsage: "response has no usage object with token counts"
            case .invalid(let field): "usage field \(field) must be a non-negative integer"
            }
        }
    }

    /// Extracts usage from the raw bytes of a response body: finds the top-level `usage` member by a
    /// byte scan and reads its counts in place, so no part of the answer is decoded into values.
    /// Nil when the body is not a JSON object or has no usable `usage`.
    public static func usage(fromResponseBytes body: [UInt8]) -> TokenUsage? {
        guard let range = JSONMembers.fields(body)?["usage"] else { return nil }
        return usage(fromUsageBytes: Array(body[range]))
    }

    /// Reads a `usage` object's counts from its raw bytes (the same fields as ``usage(from:)``).
    /// Nil when it is not an object, has neither a prompt nor a completion count, or a count is not a
    /// non-negative integer.
    public static func usage(fromUsageBytes bytes: [UInt8]) -> TokenUsage? {
        guard let values = JSONMembers.fields(bytes) else { return nil }
        /// nil: absent or null; .some(nil): present but not a count.
        func count(_ key: String, in source: [UInt8], _ fields: [String: Range<Int>]) -> Int?? {
            guard let range = fields[key], !source[range].elementsEqual("null".utf8) else { return nil }
            return .some(JSONMembers.nonNegativeInteger(source, range))
        }
        func nested(_ object: String, _ key: String) -> Int?? {
            guard let range = values[object], !bytes[range].elementsEqual("null".utf8) else { return nil }
            let inner = Array(bytes[range])
            guard let fields = JSONMembers.fields(inner) else { return .some(nil) }
            return count(key, in: inner, fields)
        }
        func first(_ candidates: [Int??]) -> Int?? {
            for candidate in candidates { if let found = candidate { return found } }
            return nil
        }
        let prompt = first([count("prompt_tokens", in: bytes, values), count("input_tokens", in: bytes, values)])
        let completion = first([count("completion_tokens", in: bytes, values), count("output_tokens", in: bytes, values)])
        let cached = first([nested("prompt_tokens_details", "cached_tokens"), nested("input_tokens_details", "cached_tokens")])
        let reasoning = first([
            nested("completion_tokens_details", "reasoning_tokens"), nested("output_tokens_details", "reasoning_tokens"),
        ])
        guard prompt != nil || completion != nil else { return nil }
        for value in [prompt, completion, cached, reasoning] { if case .some(.none) = value { return nil } }
        return TokenUsage(
            promptTokens: (prompt ?? 0) ?? 0, completionTokens: (completion ?? 0) ?? 0, cachedTokens: (cached ?? 0) ?? 0,
            reasoningTokens: (reasoning ?? 0) ?? 0)
    }

    /// Extracts usage from a full response body or from its `usage` object.
    public static func usage(from body: JSONValue) throws(Failure) -> TokenUsage {
        let usage: JSONValue
        if case .object(let object) = body["usage"] ?? .null {
            usage = .object(object)
        } else {
            usage = body
        }
        func count(_ value: JSONValue?, _ name: String) throws(Failure) -> Int? {
            guard let value, value != .null else { return nil }
            guard let int = value.intValue else { throw .invalid(name) }
            return int
        }
        func first(_ pairs: [(JSONValue?, String)]) throws(Failure) -> Int? {
            for (value, name) in pairs { if let found = try count(value, name) { return found } }
            return nil
        }
        let prompt = try first([(usage["prompt_tokens"], "prompt_tokens"), (usage["input_tokens"], "input_tokens")])
        let completion = try first([
            (usage["completion_tokens"], "completion_tokens"), (usage["output_tokens"], "output_tokens"),
        ])
        guard prompt != nil || completion != nil else { throw .noUsage }
        let cached = try first([
            (usage["prompt_tokens_details"]?["cached_tokens"], "prompt_tokens_details.cached_tokens"),
            (usage["input_tokens_details"]?["cached_tokens"], "input_tokens_details.cached_tokens"),
        ]) ?? 0
        let reasoning = try first([
            (usage["completion_tokens_details"]?["reasoning_tokens"], "completion_tokens_details.reasoning_tokens"),
            (usage["output_tokens_details"]?["reasoning_tokens"], "output_tokens_details.reasoning_tokens"),
        ]) ?? 0
        return TokenUsage(
            promptTokens: prompt ?? 0, completionTokens: completion ?? 0, cachedTokens: cached, reasoningTokens: reasoning)
    }
}
