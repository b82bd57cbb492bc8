import Foundation
import Tokenizer
import UsageAccounting

/// Exact token counts for relayed calls without a usage object, from the `Tokenizer` module:
/// prompt tokens by the chat billing rules, completion tokens by the model's encoding.
public struct TokenizerCounting: TokenCounting {
    /// Where the `.tiktoken` files are (`TOLLGATE_ENCODINGS_DIR` or the user cache by default).
    public let directory: URL

    public init(directory: URL = Encoding.defaultDirectory()) {
        self.directory = directory
    }

    /// Encodings that can be loaded (and pass their SHA-256 check) from `directory`.
    public func availableEncodings() -> [EncodingName] {
        EncodingName.allCases.filter { (try? Encoding.shared($0, directory: directory)) != nil }
    }

    public func promptTokens(requestBody: [UInt8], model: String) -> Int? {
        guard let counter = try? ChatTokenCounter(model: model, directory: directory) else { return nil }
        return try? counter.countRequest(json: Data(requestBody)).tokens
    }

    public func completionTokens(text: String, model: String) -> Int? {
        guard let encoding = try? Encoding.forModel(model, directory: directory) else { return nil }
        return encoding.count(text)
    }
}
