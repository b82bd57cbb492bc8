import Foundation

/// Splits a byte stream of server-sent events into whole events, keeping every byte: each event is
/// returned with its terminating blank line, so concatenating the events gives back the input.
public struct SSEEventSplitter: Sendable {
    private var buffer: [UInt8] = []
    private var scanFrom = 0

    /// Creates an empty splitter.
    public init() {}

    /// Appends bytes and returns the events they complete.
    public mutating func push(_ bytes: some Sequence<UInt8>) -> [[UInt8]] {
        buffer.append(contentsOf: bytes)
        var events: [[UInt8]] = []
        var start = 0
        var index = max(scanFrom, 0)
        while index < buffer.count {
            if buffer[index] == 0x0A {  // \n
                // "\n\n" or "\n\r\n" ends an event.
                var next = index + 1
                if next < buffer.count, buffer[next] == 0x0D { next += 1 }
                if next < buffer.count, buffer[next] == 0x0A {
                    events.append(Array(buffer[start...next]))
                    start = next + 1
                    index = next + 1
                    continue
                }
            }
            index += 1
        }
        if start > 0 { buffer.removeFirst(start) }
        // Re-scan the last two bytes next time: a terminator may straddle two pushes.
        scanFrom = max(0, buffer.count - 2)
        return events
    }

    /// Bytes of an unfinished event at the end of the stream (forwarded as they are).
    public mutating func finish() -> [UInt8] {
        defer {
            buffer = []
            scanFrom = 0
        }
        return buffer
    }
}

/// One server-sent event's fields.
public struct SSEEvent: Sendable, Equatable {
    /// The `event:` field (nil when absent).
    public var name: String?
    /// The `data:` lines joined with `\n` (nil when there is none).
    public var data: String?
    /// Number of `data:` lines.
    public var dataLines: Int

    /// Parses the raw bytes of one event.
    public init(bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        var name: String?
        var data: [String] = []
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: true) {
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.hasPrefix(":") { continue }
            let field: Substring
            var value: Substring
            if let colon = line.firstIndex(of: ":") {
                field = line[..<colon]
                value = line[line.index(after: colon)...]
                if value.hasPrefix(" ") { value = value.dropFirst() }
            } else {
                field = line
                value = ""
            }
            switch field {
            case "event": name = String(value)
            case "data": data.append(String(value))
            default: break
            }
        }
        self.name = name
        self.data = data.isEmpty ? nil : data.joined(separator: "\n")
        dataLines = data.count
    }
}

/// Edits of a chat-completions request the relay makes, and the matching edits of the response.
public enum StreamOptions {
    /// What the caller asked for.
    public struct Request: Sendable, Equatable {
        /// `"stream": true`.
        public var stream: Bool
        /// `stream_options.include_usage == true`.
        public var includeUsage: Bool
        /// `model` in the body (the Responses API and the v1 routes name the deployment there).
        public var model: String?
    }

    /// Reads `stream`, `stream_options.include_usage` and `model`; nil if the body is not a JSON object.
    public static func inspect(_ body: [UInt8]) -> Request? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else { return nil }
        let stream = (object["stream"] as? Bool) ?? false
        let options = object["stream_options"] as? [String: Any]
        return Request(
            stream: stream, includeUsage: (options?["include_usage"] as? Bool) ?? false, model: object["model"] as? String)
    }

    /// The body with `stream_options.include_usage = true`. When the body has no `stream_options`
    /// the member is inserted as the first one and every other byte stays as it was; otherwise the
    /// object is re-serialized.
    public static func requestingUsage(_ body: [UInt8]) -> [UInt8]? {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else { return nil }
        if object["stream_options"] == nil, let open = body.firstIndex(where: { !isSpace($0) }), body[open] == UInt8(ascii: "{") {
            let member = Array(#""stream_options":{"include_usage":true}"#.utf8)
            let rest = body[(open + 1)...]
            let isEmpty = rest.first(where: { !isSpace($0) }) == UInt8(ascii: "}")
            var result = Array(body[...open])
            result += member
            if !isEmpty { result.append(UInt8(ascii: ",")) }
            result += rest
            return result
        }
        var options = (object["stream_options"] as? [String: Any]) ?? [:]
        options["include_usage"] = true
        object["stream_options"] = options
        return (try? JSONSerialization.data(withJSONObject: object)).map { Array($0) }
    }

    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }

    /// Removes the top-level member `key` from the JSON object in `json` when its value is `null`,
    /// together with one neighbouring comma, leaving every other byte unchanged. Returns nil when
    /// there is no such member.
    public static func removingNullMember(_ key: String, from json: [UInt8]) -> [UInt8]? {
        // Walk the top-level object: remember each member's start (after `{` or `,`) and its value.
        var index = 0
        func skipSpace() { while index < json.count, isSpace(json[index]) { index += 1 } }
        func skipString() -> Bool {
            guard index < json.count, json[index] == UInt8(ascii: "\"") else { return false }
            index += 1
            while index < json.count {
                if json[index] == UInt8(ascii: "\\") { index += 2; continue }
                if json[index] == UInt8(ascii: "\"") { index += 1; return true }
                index += 1
            }
            return false
        }
        func skipValue() -> Bool {
            skipSpace()
            guard index < json.count else { return false }
            switch json[index] {
            case UInt8(ascii: "\""): return skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while index < json.count {
                    let byte = json[index]
                    if byte == UInt8(ascii: "\"") { if !skipString() { return false }; continue }
                    if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") { depth += 1 }
                    if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                        depth -= 1
                        if depth == 0 { index += 1; return true }
                    }
                    index += 1
                }
                return false
            default:
                while index < json.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")].contains(json[index]),
                    !isSpace(json[index])
                {
                    index += 1
                }
                return true
            }
        }
        skipSpace()
        guard index < json.count, json[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        let target = Array("\"\(key)\"".utf8)
        var previousComma: Int?
        while true {
            skipSpace()
            guard index < json.count else { return nil }
            if json[index] == UInt8(ascii: "}") { return nil }
            let memberStart = index
            guard skipString() else { return nil }
            let keyBytes = json[memberStart..<index]
            skipSpace()
            guard index < json.count, json[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            skipSpace()
            let valueStart = index
            guard skipValue() else { return nil }
            let valueBytes = json[valueStart..<index]
            let memberEnd = index
            skipSpace()
            let nextComma: Int? = index < json.count && json[index] == UInt8(ascii: ",") ? index : nil
            if Array(keyBytes) == target, Array(valueBytes) == Array("null".utf8) {
                if let nextComma {
                    // Remove `"key":null,` and the space up to the next member.
                    var end = nextComma + 1
                    while end < json.count, isSpace(json[end]) { end += 1 }
                    return Array(json[..<memberStart]) + Array(json[end...])
                }
                if let previousComma {
                    return Array(json[..<previousComma]) + Array(json[memberEnd...])
                }
                return Array(json[..<memberStart]) + Array(json[memberEnd...])
            }
            guard let comma = nextComma else { return nil }
            previousComma = comma
            index = comma + 1
        }
    }
}

/// Follows a relayed stream (Chat Completions or Responses API): what to forward, and what it cost.
///
/// Chat Completions: with `include_usage` the backend adds `"usage":null` to every chunk and one
/// last chunk with empty `choices` and the usage. When the relay added `include_usage` itself
/// (``hideUsage``), it takes both out again, so the caller gets the bytes it would have got.
/// Responses API: the usage is in the `response.completed` event; nothing is hidden.
public struct StreamAccountant: Sendable {
    /// Take the usage chunk and the `"usage":null` members out of the forwarded stream.
    public let hideUsage: Bool
    /// Usage reported by the backend, when it arrived.
    public private(set) var reportedUsage: (prompt: Int, completion: Int, cached: Int, reasoning: Int)?
    /// Generated text received so far (all choices, tool-call arguments included).
    public private(set) var completionText = ""
    /// Events received from the backend.
    public private(set) var eventsReceived = 0
    /// Whether `[DONE]` (or `response.completed`) arrived.
    public private(set) var finished = false

    /// Creates an accountant.
    public init(hideUsage: Bool) { self.hideUsage = hideUsage }

    /// Processes one raw event from the backend and returns the bytes to forward (nil: drop it).
    public mutating func process(_ raw: [UInt8]) -> [UInt8]? {
        eventsReceived += 1
        let event = SSEEvent(bytes: raw)
        guard let data = event.data else { return raw }
        if data == "[DONE]" {
            finished = true
            return raw
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] else { return raw }
        if let type = object["type"] as? String, type.hasPrefix("response.") {
            responsesEvent(type: type, object: object)
            return raw
        }
        var isUsageChunk = false
        if let usage = object["usage"] as? [String: Any] {
            record(usage)
            isUsageChunk = ((object["choices"] as? [Any])?.isEmpty ?? true)
        }
        for case let choice as [String: Any] in (object["choices"] as? [Any]) ?? [] {
            guard let delta = choice["delta"] as? [String: Any] else { continue }
            if let content = delta["content"] as? String { completionText += content }
            if let refusal = delta["refusal"] as? String { completionText += refusal }
            for case let call as [String: Any] in (delta["tool_calls"] as? [Any]) ?? [] {
                if let function = call["function"] as? [String: Any] {
                    if let name = function["name"] as? String { completionText += name }
                    if let arguments = function["arguments"] as? String { completionText += arguments }
                }
            }
        }
        guard hideUsage else { return raw }
        if isUsageChunk { return nil }
        if object.keys.contains("usage"), object["usage"] is NSNull, event.dataLines == 1 {
            return Self.removingUsageNull(raw) ?? raw
        }
        return raw
    }

    /// Rewrites the single `data:` line of `raw` without its top-level `"usage":null`.
    static func removingUsageNull(_ raw: [UInt8]) -> [UInt8]? {
        let prefix = Array("data:".utf8)
        var lineStart = 0
        while lineStart < raw.count {
            var lineEnd = lineStart
            while lineEnd < raw.count, raw[lineEnd] != 0x0A { lineEnd += 1 }
            if raw.count - lineStart >= prefix.count, Array(raw[lineStart..<(lineStart + prefix.count)]) == prefix {
                var valueStart = lineStart + prefix.count
                if valueStart < lineEnd, raw[valueStart] == 0x20 { valueStart += 1 }
                var valueEnd = lineEnd
                if valueEnd > valueStart, raw[valueEnd - 1] == 0x0D { valueEnd -= 1 }
                guard let edited = StreamOptions.removingNullMember("usage", from: Array(raw[valueStart..<valueEnd])) else {
                    return nil
                }
                return Array(raw[..<valueStart]) + edited + Array(raw[valueEnd...])
            }
            lineStart = lineEnd + 1
        }
        return nil
    }

    private mutating func responsesEvent(type: String, object: [String: Any]) {
        switch type {
        case "response.output_text.delta", "response.function_call_arguments.delta", "response.refusal.delta":
            if let delta = object["delta"] as? String { completionText += delta }
        case "response.completed", "response.incomplete", "response.failed":
            finished = true
            if let response = object["response"] as? [String: Any], let usage = response["usage"] as? [String: Any] {
                record(usage)
            }
        default:
            break
        }
    }

    private mutating func record(_ usage: [String: Any]) {
        func int(_ value: Any?) -> Int? { (value as? NSNumber)?.intValue }
        let prompt = int(usage["prompt_tokens"]) ?? int(usage["input_tokens"])
        let completion = int(usage["completion_tokens"]) ?? int(usage["output_tokens"])
        guard prompt != nil || completion != nil else { return }
        let cached =
            int((usage["prompt_tokens_details"] as? [String: Any])?["cached_tokens"])
            ?? int((usage["input_tokens_details"] as? [String: Any])?["cached_tokens"]) ?? 0
        let reasoning =
            int((usage["completion_tokens_details"] as? [String: Any])?["reasoning_tokens"])
            ?? int((usage["output_tokens_details"] as? [String: Any])?["reasoning_tokens"]) ?? 0
        reportedUsage = (prompt ?? 0, completion ?? 0, cached, reasoning)
    }
}
