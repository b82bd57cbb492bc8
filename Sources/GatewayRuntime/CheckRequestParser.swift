import GatewayModel
import NIOCore

/// A direct reader for the common shape of a `/v1/check` body: one flat JSON object whose keys are
/// the six known ones, each at most once, with strings without escapes, `null` for the optional
/// fields and a plain integer for `estimatedTokens`. Anything else — escapes, unknown keys, other
/// types, malformed JSON — returns nil and goes through `JSONDecoder`, which then decides (and words
/// the error) exactly as before. Whenever this returns a value, `JSONDecoder` returns the same one
/// (tested, with mutated bodies too).
enum CheckRequestParser {
    private enum Field: Int { case requestId, product, subscription, user, model, estimatedTokens }

    static func parse(_ buffer: ByteBuffer) -> CheckRequest? {
        buffer.withUnsafeReadableBytes { parse(bytes: $0) }
    }

    static func parse(bytes: UnsafeRawBufferPointer) -> CheckRequest? {
        var index = 0
        let count = bytes.count

        func skipSpace() {
            while index < count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }
        /// A string without escapes or control characters, as valid UTF-8.
        func string() -> String? {
            guard index < count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            let start = index + 1
            var end = start
            while end < count {
                let byte = bytes[end]
                if byte == UInt8(ascii: "\"") { break }
                if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
                end += 1
            }
            guard end < count else { return nil }
            index = end + 1
            return String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        }
        func null() -> Bool {
            guard index + 4 <= count, bytes[index] == UInt8(ascii: "n"), bytes[index + 1] == UInt8(ascii: "u"),
                  bytes[index + 2] == UInt8(ascii: "l"), bytes[index + 3] == UInt8(ascii: "l")
            else { return false }
            index += 4
            return true
        }
        /// `-?(0|[1-9][0-9]*)` with at most 18 digits, followed by a delimiter.
        func integer() -> Int? {
            var negative = false
            if index < count, bytes[index] == UInt8(ascii: "-") {
                negative = true
                index += 1
            }
            let start = index
            var value = 0
            while index < count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                // Longer numbers go to JSONDecoder (and can never overflow here).
                if index - start == 18 { return nil }
                value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                index += 1
            }
            let digits = index - start
            guard digits >= 1, digits <= 18, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
            guard index < count else { return nil }
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ","), UInt8(ascii: "}"): break
            default: return nil
            }
            return negative ? -value : value
        }

        var requestId: String?, product: String?, subscription: String?, model: String?
        var user: String?, tokens: Int?
        var seen = 0 as UInt8
        skipSpace()
        guard index < count, bytes[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        while true {
            skipSpace()
            guard let key = string() else { return nil }
            let field: Field
            switch key {
            case "requestId": field = .requestId
            case "product": field = .product
            case "subscription": field = .subscription
            case "user": field = .user
            case "model": field = .model
            case "estimatedTokens": field = .estimatedTokens
            default: return nil
            }
            let bit = UInt8(1) << UInt8(field.rawValue)
            guard seen & bit == 0 else { return nil }
            seen |= bit
            skipSpace()
            guard index < count, bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            skipSpace()
            switch field {
            case .requestId: guard let value = string() else { return nil }; requestId = value
            case .product: guard let value = string() else { return nil }; product = value
            case .subscription: guard let value = string() else { return nil }; subscription = value
            case .model: guard let value = string() else { return nil }; model = value
            case .user:
                if !null() {
                    guard let value = string() else { return nil }
                    user = value
                }
            case .estimatedTokens:
                if !null() {
                    guard let value = integer() else { return nil }
                    tokens = value
                }
            }
            skipSpace()
            guard index < count else { return nil }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "}") else { return nil }
            index += 1
            break
        }
        skipSpace()
        guard index == count, let requestId, let product, let subscription, let model else { return nil }
        return CheckRequest(
            requestId: requestId, product: product, subscription: subscription, user: user, model: model,
            estimatedTokens: tokens)
    }
}
