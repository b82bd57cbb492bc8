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
