import Foundation
import GatewayModel

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
    /// The `data:` lines joined with `\n`, as bytes (nil when there is none).
    public var dataBytes: [UInt8]?
    /// Number of `data:` lines.
    public var dataLines: Int

    /// The `data:` lines joined with `\n` (nil when there is none).
    public var data: String? { dataBytes.map { String(decoding: $0, as: UTF8.self) } }

    /// Parses the raw bytes of one event. Lines end with LF or CRLF; a line starting with `:` is a
    /// comment; one space after the field's colon is not part of the value.
    public init(bytes: [UInt8]) {
        var name: String?
        var data: [UInt8]?
        var lines = 0
        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count, bytes[lineEnd] != 0x0A { lineEnd += 1 }
            var contentEnd = lineEnd
            if contentEnd > lineStart, bytes[contentEnd - 1] == 0x0D { contentEnd -= 1 }
            defer { lineStart = lineEnd + 1 }
            guard contentEnd > lineStart, bytes[lineStart] != UInt8(ascii: ":") else { continue }
            var colon = lineStart
            while colon < contentEnd, bytes[colon] != UInt8(ascii: ":") { colon += 1 }
            var valueStart = min(colon + 1, contentEnd)
            if valueStart < contentEnd, bytes[valueStart] == 0x20 { valueStart += 1 }
            let field = bytes[lineStart..<colon]
            if field.elementsEqual("data".utf8) {
                if data == nil {
                    data = Array(bytes[valueStart..<contentEnd])
                } else {
                    data!.append(0x0A)
                    data!.append(contentsOf: bytes[valueStart..<contentEnd])
                }
                lines += 1
            } else if field.elementsEqual("event".utf8) {
                name = String(decoding: bytes[valueStart..<contentEnd], as: UTF8.self)
            }
        }
        self.name = name
        dataBytes = data
        dataLines = lines
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

        public init(stream: Bool, includeUsage: Bool, model: String?) {
            self.stream = stream
            self.includeUsage = includeUsage
            self.model = model
        }
    }

    /// Reads `stream`, `stream_options.include_usage` and `model`; nil if the body is not a JSON object.
    ///
    /// A byte scan of the top-level members (no dictionary is built), so the relay's cost does not
    /// grow with the size of the messages; only a `model` string with escapes is decoded.
    public static func inspect(_ body: [UInt8]) -> Request? {
        guard let members = JSONMembers.topLevel(body) else { return nil }
        var request = Request(stream: false, includeUsage: false, model: nil)
        for member in members {
            switch member.key {
            case "stream": request.stream = body[member.value].elementsEqual("true".utf8)
            case "model": request.model = JSONMembers.string(body, member.value)
            case "stream_options":
                guard let options = JSONMembers.topLevel(Array(body[member.value])) else { continue }
                let bytes = Array(body[member.value])
                for option in options where option.key == "include_usage" {
                    request.includeUsage = bytes[option.value].elementsEqual("true".utf8)
                }
            default: continue
            }
        }
        return request
    }

    /// Whether the top-level object has a `stream_options` member (nil: not a JSON object).
    static func hasStreamOptions(_ body: [UInt8]) -> Bool? {
        JSONMembers.topLevel(body).map { $0.contains { $0.key == "stream_options" } }
    }

    /// The body with `stream_options.include_usage = true`. When the body has no `stream_options`
    /// the member is inserted as the first one and every other byte stays as it was; otherwise the
    /// object is re-serialized.
    public static func requestingUsage(_ body: [UInt8]) -> [UInt8]? {
        guard let hasOptions = hasStreamOptions(body) else { return nil }
        if !hasOptions, let open = body.firstIndex(where: { !isSpace($0) }), body[open] == UInt8(ascii: "{") {
            let member = Array(#""stream_options":{"include_usage":true}"#.utf8)
            let rest = body[(open + 1)...]
            let isEmpty = rest.first(where: { !isSpace($0) }) == UInt8(ascii: "}")
            var result = Array(body[...open])
            result.reserveCapacity(body.count + member.count + 1)
            result += member
            if !isEmpty { result.append(UInt8(ascii: ",")) }
            result += rest
            return result
        }
        guard var object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else { return nil }
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
    public private(set) var reportedUsage: TokenUsage?
    /// Generated text received so far (all choices, tool-call arguments included). Computed on
    /// demand from the events that carry text: the per-event work on the relay's path is a byte
    /// scan, and the text is only needed when the backend reported no usage.
    public var completionText: String {
        var text = ""
        for payload in textEvents {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(payload))) as? [String: Any] else { continue }
            if let type = object["type"] as? String {
                if let delta = object["delta"] as? String, type.hasPrefix("response.") { text += delta }
                continue
            }
            for case let choice as [String: Any] in (object["choices"] as? [Any]) ?? [] {
                guard let delta = choice["delta"] as? [String: Any] else { continue }
                if let content = delta["content"] as? String { text += content }
                if let refusal = delta["refusal"] as? String { text += refusal }
                for case let call as [String: Any] in (delta["tool_calls"] as? [Any]) ?? [] {
                    if let function = call["function"] as? [String: Any] {
                        if let name = function["name"] as? String { text += name }
                        if let arguments = function["arguments"] as? String { text += arguments }
                    }
                }
            }
        }
        return text
    }
    /// `data:` payloads that may carry generated text, in order.
    private var textEvents: [[UInt8]] = []
    /// Events received from the backend.
    public private(set) var eventsReceived = 0
    /// Whether `[DONE]` (or `response.completed`) arrived.
    public private(set) var finished = false

    /// Creates an accountant.
    public init(hideUsage: Bool) { self.hideUsage = hideUsage }

    static let textEventTypes: Set<String> = [
        "response.output_text.delta", "response.function_call_arguments.delta", "response.refusal.delta",
    ]
    static let finalEventTypes: Set<String> = ["response.completed", "response.incomplete", "response.failed"]

    /// Processes one raw event from the backend and returns the bytes to forward (nil: drop it).
    public mutating func process(_ raw: [UInt8]) -> [UInt8]? {
        eventsReceived += 1
        let event = SSEEvent(bytes: raw)
        guard let bytes = event.dataBytes else { return raw }
        if bytes.elementsEqual("[DONE]".utf8) {
            finished = true
            return raw
        }
        guard let members = JSONMembers.topLevel(bytes) else { return raw }
        var usage: Range<Int>?
        var choices: Range<Int>?
        var response: Range<Int>?
        var type: String?
        for member in members {
            switch member.key {
            case "usage": usage = member.value
            case "choices": choices = member.value
            case "response": response = member.value
            case "type": type = JSONMembers.string(bytes, member.value)
            default: continue
            }
        }
        if let type, type.hasPrefix("response.") {
            if Self.textEventTypes.contains(type) {
                textEvents.append(bytes)
            } else if Self.finalEventTypes.contains(type) {
                finished = true
                if let response, let counts = UsageExtractor.usage(fromResponseBytes: Array(bytes[response])) {
                    reportedUsage = counts
                }
            }
            return raw
        }
        let hasChoices = choices.map { range in
            // Anything but an empty array.
            bytes[range].contains { !JSONMembers.isSpace($0) && $0 != UInt8(ascii: "[") && $0 != UInt8(ascii: "]") }
        } ?? false
        if hasChoices { textEvents.append(bytes) }
        var isUsageChunk = false
        if let usage, bytes[usage.lowerBound] == UInt8(ascii: "{") {
            if let counts = UsageExtractor.usage(fromUsageBytes: Array(bytes[usage])) {
                reportedUsage = counts
                isUsageChunk = !hasChoices
            }
        }
        guard hideUsage else { return raw }
        if isUsageChunk { return nil }
        if let usage, bytes[usage].elementsEqual("null".utf8), event.dataLines == 1 {
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
}

/// A minimal scanner over the bytes of a JSON object: the top-level members, without building
/// values. Strings are skipped with their escapes; nesting is tracked by brackets. It checks the
/// structure it walks (`{`, keys, `:`, values, `,`, `}`) but not the grammar of every scalar.
enum JSONMembers {
    struct Member {
        /// The key as written (escapes decoded only when present).
        var key: String
        /// Byte range of the value.
        var value: Range<Int>
    }

    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }

    /// Index after the string starting at `index` (a `"`), or nil.
    static func skipString(_ json: [UInt8], _ start: Int) -> Int? {
        guard start < json.count, json[start] == UInt8(ascii: "\"") else { return nil }
        var index = start + 1
        while index < json.count {
            let byte = json[index]
            if byte == UInt8(ascii: "\\") { index += 2; continue }
            if byte == UInt8(ascii: "\"") { return index + 1 }
            index += 1
        }
        return nil
    }

    /// Index after the value starting at `index`, or nil.
    static func skipValue(_ json: [UInt8], _ start: Int) -> Int? {
        guard start < json.count else { return nil }
        switch json[start] {
        case UInt8(ascii: "\""): return skipString(json, start)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            var index = start
            while index < json.count {
                let byte = json[index]
                if byte == UInt8(ascii: "\"") {
                    guard let next = skipString(json, index) else { return nil }
                    index = next
                    continue
                }
                if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") { depth += 1 }
                if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                    depth -= 1
                    if depth == 0 { return index + 1 }
                }
                index += 1
            }
            return nil
        default:
            var index = start
            while index < json.count {
                let byte = json[index]
                if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") || isSpace(byte) { break }
                index += 1
            }
            return index > start ? index : nil
        }
    }

    /// The top-level members of the object in `json` by key (a repeated key: the last), or nil if
    /// `json` is not a JSON object.
    static func fields(_ json: [UInt8]) -> [String: Range<Int>]? {
        guard let members = topLevel(json) else { return nil }
        var fields: [String: Range<Int>] = [:]
        for member in members { fields[member.key] = member.value }
        return fields
    }

    /// The integer at `range` when it is written as plain digits (at most 18), else nil.
    static func nonNegativeInteger(_ json: [UInt8], _ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.count <= 18 else { return nil }
        var value = 0
        for byte in json[range] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    /// The decoded string value at `range`, or nil if it is not a string.
    static func string(_ json: [UInt8], _ range: Range<Int>) -> String? {
        guard range.count >= 2, json[range.lowerBound] == UInt8(ascii: "\"") else { return nil }
        let inner = json[(range.lowerBound + 1)..<(range.upperBound - 1)]
        if !inner.contains(UInt8(ascii: "\\")) { return String(decoding: inner, as: UTF8.self) }
        return (try? JSONSerialization.jsonObject(with: Data(json[range]), options: [.fragmentsAllowed])) as? String
    }

    /// The top-level members of the object in `json`, or nil if `json` is not a JSON object.
    static func topLevel(_ json: [UInt8]) -> [Member]? {
        var index = 0
        func skipSpace() { while index < json.count, isSpace(json[index]) { index += 1 } }
        skipSpace()
        guard index < json.count, json[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        var members: [Member] = []
        skipSpace()
        if index < json.count, json[index] == UInt8(ascii: "}") {
            index += 1
            skipSpace()
            return index == json.count ? members : nil
        }
        while true {
            skipSpace()
            let keyStart = index
            guard let keyEnd = skipString(json, keyStart) else { return nil }
            index = keyEnd
            skipSpace()
            guard index < json.count, json[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            skipSpace()
            let valueStart = index
            guard let valueEnd = skipValue(json, valueStart) else { return nil }
            index = valueEnd
            guard let key = string(json, keyStart..<keyEnd) else { return nil }
            members.append(Member(key: key, value: valueStart..<valueEnd))
            skipSpace()
            guard index < json.count else { return nil }
            if json[index] == UInt8(ascii: ",") { index += 1; continue }
            guard json[index] == UInt8(ascii: "}") else { return nil }
            index += 1
            skipSpace()
            return index == json.count ? members : nil
        }
    }
}
