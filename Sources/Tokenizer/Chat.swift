import Foundation

// MARK: Model → encoding

extension Encoding {
    /// The encoding a model uses, following tiktoken's model table (exact names
    /// first, then prefixes): gpt-5, gpt-4.1, gpt-4.5, gpt-4o, o1/o3/o4 → `o200k_base`;
    /// gpt-4, gpt-3.5-turbo (and Azure's `gpt-35-turbo`), text-embedding-3/ada-002 → `cl100k_base`.
    /// Returns nil for models it does not know.
    public static func name(forModel model: String) -> EncodingName? {
        let m = model.lowercased()
        if let exact = exactModels[m] { return exact }
        for (prefix, enc) in modelPrefixes where m.hasPrefix(prefix) { return enc }
        return nil
    }

    /// The shared, verified encoding for a model (see ``name(forModel:)``).
    public static func forModel(_ model: String, directory: URL? = nil) throws(TokenizerError) -> Encoding {
        guard let n = name(forModel: model) else { throw .unknownModel(model) }
        return try shared(n, directory: directory)
    }

    private static let exactModels: [String: EncodingName] = [
        "o1": .o200k_base, "o3": .o200k_base, "o4-mini": .o200k_base,
        "gpt-5": .o200k_base, "gpt-4.1": .o200k_base, "gpt-4o": .o200k_base,
        "gpt-4": .cl100k_base, "gpt-3.5-turbo": .cl100k_base, "gpt-3.5": .cl100k_base,
        "gpt-35-turbo": .cl100k_base, "davinci-002": .cl100k_base, "babbage-002": .cl100k_base,
        "text-embedding-ada-002": .cl100k_base, "text-embedding-3-small": .cl100k_base,
        "text-embedding-3-large": .cl100k_base,
    ]

    /// Ordered: more specific prefixes before `gpt-4-`.
    private static let modelPrefixes: [(String, EncodingName)] = [
        ("o1-", .o200k_base), ("o3-", .o200k_base), ("o4-mini-", .o200k_base),
        ("gpt-5", .o200k_base), ("gpt-4.5-", .o200k_base), ("gpt-4.1-", .o200k_base),
        ("chatgpt-4o-", .o200k_base), ("gpt-4o-", .o200k_base),
        ("gpt-4-", .cl100k_base), ("gpt-3.5-turbo-", .cl100k_base), ("gpt-35-turbo-", .cl100k_base),
        ("ft:gpt-4o", .o200k_base), ("ft:gpt-4", .cl100k_base), ("ft:gpt-3.5-turbo", .cl100k_base),
        ("ft:davinci-002", .cl100k_base), ("ft:babbage-002", .cl100k_base),
    ]
}

// MARK: Chat rules

/// How a chat-completions request is billed in tokens beyond its text, after the
/// OpenAI cookbook "How to count tokens with tiktoken".
public struct ChatRules: Sendable, Equatable {
    /// Added for every message (`<|start|>{role}\n…<|end|>\n`).
    public var tokensPerMessage: Int
    /// Added when a message has a `name`.
    public var tokensPerName: Int
    /// Every reply is primed with `<|start|>assistant<|message|>`.
    public var replyPriming: Int
    /// Function/tool definition overheads: per function, once if it has properties,
    /// per property, once per enum, per enum item, and once after all functions.
    public var functionInit: Int
    public var propertiesInit: Int
    public var propertyKey: Int
    public var enumInit: Int
    public var enumItem: Int
    public var functionsEnd: Int

    public init(
        tokensPerMessage: Int = 3, tokensPerName: Int = 1, replyPriming: Int = 3,
        functionInit: Int, propertiesInit: Int = 3, propertyKey: Int = 3,
        enumInit: Int = -3, enumItem: Int = 3, functionsEnd: Int = 12
    ) {
        self.tokensPerMessage = tokensPerMessage
        self.tokensPerName = tokensPerName
        self.replyPriming = replyPriming
        self.functionInit = functionInit
        self.propertiesInit = propertiesInit
        self.propertyKey = propertyKey
        self.enumInit = enumInit
        self.enumItem = enumItem
        self.functionsEnd = functionsEnd
    }

    /// The rules for a model: `gpt-3.5-turbo-0301` uses 4 tokens per message and
    /// −1 per name; every other model 3 and +1. Function definitions start with
    /// 7 tokens on o200k models (gpt-4o and later) and 10 on cl100k models.
    public static func forModel(_ model: String) -> ChatRules {
        let m = model.lowercased()
        let o200k = Encoding.name(forModel: m) == .o200k_base
        var rules = ChatRules(functionInit: o200k ? 7 : 10)
        if m.hasPrefix("gpt-3.5-turbo-0301") || m.hasPrefix("gpt-35-turbo-0301") {
            rules.tokensPerMessage = 4
            rules.tokensPerName = -1
        }
        return rules
    }
}

/// The result of counting a chat request.
public struct ChatTokenCount: Sendable, Equatable {
    /// Prompt tokens as billed: messages, per-message overhead, reply priming and tool definitions.
    public var tokens: Int
    /// Warning-level notes about parts that were not counted (images, audio, …).
    public var notes: [String]
}

/// Counts the prompt tokens of a chat-completions request the way OpenAI bills them.
///
/// ```swift
/// let counter = try ChatTokenCounter(model: "gpt-4o")
/// let prompt = try counter.countRequest(json: body).tokens
/// let completion = counter.countCompletion(text)
/// ```
public struct ChatTokenCounter: Sendable {
    public let encoding: Encoding
    public let rules: ChatRules

    public init(encoding: Encoding, rules: ChatRules) {
        self.encoding = encoding
        self.rules = rules
    }

    /// A counter for `model`: its encoding (shared, loaded from `directory`) and rules.
    public init(model: String, directory: URL? = nil) throws(TokenizerError) {
        self.encoding = try Encoding.forModel(model, directory: directory)
        self.rules = ChatRules.forModel(model)
    }

    /// Errors for malformed requests.
    public enum RequestError: Error, Equatable, CustomStringConvertible {
        case notJSONObject
        case missingMessages
        case unknownModel(String)

        public var description: String {
            switch self {
            case .notJSONObject: return "the chat request is not a JSON object"
            case .missingMessages: return "the chat request has no \"messages\" array"
            case .unknownModel(let m): return "no encoding is known for model '\(m)'"
            }
        }
    }

    /// Counts the prompt tokens of a chat-completions request body
    /// (`messages`, plus `tools` or legacy `functions`).
    public func countRequest(json: Data) throws(RequestError) -> ChatTokenCount {
        guard let any = try? JSONSerialization.jsonObject(with: json), let object = any as? [String: Any] else {
            throw .notJSONObject
        }
        return try countRequest(object)
    }

    /// Counts the prompt tokens of a decoded chat-completions request.
    public func countRequest(_ request: [String: Any]) throws(RequestError) -> ChatTokenCount {
        guard let messages = request["messages"] as? [[String: Any]] else { throw .missingMessages }
        var result = countMessages(messages)
        var functions: [[String: Any]] = []
        if let tools = request["tools"] as? [[String: Any]] {
            for tool in tools {
                if let f = tool["function"] as? [String: Any] {
                    functions.append(f)
                } else {
                    result.notes.append("tool of type \(tool["type"] as? String ?? "?") not counted")
                }
            }
        }
        if let legacy = request["functions"] as? [[String: Any]] { functions += legacy }
        result.tokens += countFunctions(functions)
        return result
    }

    /// Counts a list of chat messages: per message `tokensPerMessage` plus the tokens
    /// of every string value (role, content, name…), `tokensPerName` for a name,
    /// and the reply priming once.
    public func countMessages(_ messages: [[String: Any]]) -> ChatTokenCount {
        var tokens = 0
        var notes: [String] = []
        for message in messages {
            tokens += rules.tokensPerMessage
            for (key, value) in message {
                switch value {
                case let s as String:
                    tokens += encoding.count(s)
                    if key == "name" { tokens += rules.tokensPerName }
                case let parts as [[String: Any]] where key == "content":
                    for part in parts {
                        let type = part["type"] as? String ?? ""
                        if let text = part["text"] as? String, type == "text" || type.isEmpty {
                            tokens += encoding.count(text)
                        } else if let refusal = part["refusal"] as? String {
                            tokens += encoding.count(refusal)
                        } else {
                            notes.append("warning: \(type.isEmpty ? "unknown" : type) content part not counted (images and audio are billed separately)")
                        }
                    }
                case let calls as [[String: Any]] where key == "tool_calls":
                    // Not covered by the cookbook: count the function name and the arguments text.
                    for call in calls {
                        if let f = call["function"] as? [String: Any] {
                            if let n = f["name"] as? String { tokens += encoding.count(n) }
                            if let a = f["arguments"] as? String { tokens += encoding.count(a) }
                        }
                    }
                case let call as [String: Any] where key == "function_call":
                    if let n = call["name"] as? String { tokens += encoding.count(n) }
                    if let a = call["arguments"] as? String { tokens += encoding.count(a) }
                default:
                    break
                }
            }
        }
        tokens += rules.replyPriming
        return ChatTokenCount(tokens: tokens, notes: notes)
    }

    /// Counts function (tool) definitions with the cookbook's rules; 0 for none.
    /// Each element is a function object: `{"name", "description", "parameters": {"properties": …}}`.
    public func countFunctions(_ functions: [[String: Any]]) -> Int {
        guard !functions.isEmpty else { return 0 }
        var tokens = 0
        for function in functions {
            tokens += rules.functionInit
            let name = function["name"] as? String ?? ""
            let description = Self.droppingFinalPeriod(function["description"] as? String ?? "")
            tokens += encoding.count(name + ":" + description)
            let parameters = function["parameters"] as? [String: Any]
            let properties = parameters?["properties"] as? [String: Any] ?? [:]
            guard !properties.isEmpty else { continue }
            tokens += rules.propertiesInit
            for key in Self.orderedKeys(properties, raw: parameters) {
                tokens += rules.propertyKey
                let property = properties[key] as? [String: Any] ?? [:]
                let type = Self.stringValue(property["type"])
                let description = Self.droppingFinalPeriod(property["description"] as? String ?? "")
                if let items = property["enum"] as? [Any] {
                    tokens += rules.enumInit
                    for item in items {
                        tokens += rules.enumItem
                        tokens += encoding.count(Self.stringValue(item))
                    }
                }
                tokens += encoding.count("\(key):\(type):\(description)")
            }
        }
        return tokens + rules.functionsEnd
    }

    /// Counts completion text (e.g. the concatenated content of a response or stream).
    public func countCompletion(_ text: String) -> Int { encoding.count(text) }

    private static func droppingFinalPeriod(_ s: String) -> String {
        s.hasSuffix(".") ? String(s.dropLast()) : s
    }

    private static func stringValue(_ v: Any?) -> String {
        switch v {
        case let s as String: return s
        case let n as NSNumber: return n.stringValue
        case nil: return ""
        case let other?:
            if let data = try? JSONSerialization.data(withJSONObject: other, options: [.sortedKeys]) {
                return String(decoding: data, as: UTF8.self)
            }
            return "\(other)"
        }
    }

    /// Property order does not change the count (a sum), so sort for determinism.
    private static func orderedKeys(_ properties: [String: Any], raw: [String: Any]?) -> [String] {
        properties.keys.sorted()
    }
}

// MARK: Streaming completions

/// Accumulates a streamed chat completion (SSE `chat.completion.chunk` events) and
/// counts its completion tokens: the server's `usage` when the stream carried it
/// (`stream_options.include_usage`), else the tokenizer's count of the text received
/// so far, which also covers interrupted streams.
public struct StreamingCompletionCounter: Sendable {
    public let encoding: Encoding
    private var texts: [Int: String] = [:]
    /// The usage the server reported in the stream, if any.
    public private(set) var reportedCompletionTokens: Int?
    public private(set) var reportedPromptTokens: Int?

    public init(encoding: Encoding) { self.encoding = encoding }

    /// Adds raw delta text for a choice.
    public mutating func append(delta: String, choice: Int = 0) {
        texts[choice, default: ""] += delta
    }

    /// Feeds one SSE line (`data: {…}`, `data: [DONE]`, comments and blank lines are fine).
    public mutating func ingest(sseLine line: some StringProtocol) {
        guard line.hasPrefix("data:") else { return }
        let payload = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
        guard payload != "[DONE]", let data = payload.data(using: .utf8) else { return }
        ingest(chunkJSON: data)
    }

    /// Feeds one `chat.completion.chunk` JSON object.
    public mutating func ingest(chunkJSON data: Data) {
        guard let chunk = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return }
        if let usage = chunk["usage"] as? [String: Any] {
            if let c = usage["completion_tokens"] as? Int { reportedCompletionTokens = c }
            if let p = usage["prompt_tokens"] as? Int { reportedPromptTokens = p }
        }
        for choice in chunk["choices"] as? [[String: Any]] ?? [] {
            let index = choice["index"] as? Int ?? 0
            guard let delta = choice["delta"] as? [String: Any] else { continue }
            if let content = delta["content"] as? String { append(delta: content, choice: index) }
            if let refusal = delta["refusal"] as? String { append(delta: refusal, choice: index) }
            for call in delta["tool_calls"] as? [[String: Any]] ?? [] {
                if let f = call["function"] as? [String: Any] {
                    if let n = f["name"] as? String { append(delta: n, choice: index) }
                    if let a = f["arguments"] as? String { append(delta: a, choice: index) }
                }
            }
        }
    }

    /// The text received so far for a choice.
    public func text(choice: Int = 0) -> String { texts[choice] ?? "" }

    /// Tokens counted by the tokenizer over all choices received so far.
    public var countedCompletionTokens: Int {
        texts.values.reduce(0) { $0 + encoding.count($1) }
    }

    /// The completion tokens to bill: the reported usage when present, else the counted tokens.
    public var completionTokens: Int { reportedCompletionTokens ?? countedCompletionTokens }
}
