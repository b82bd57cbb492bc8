import Foundation

/// Writes the simulator's JSON values (dictionaries, arrays, strings, integers, booleans, `NSNull`)
/// as compact JSON with sorted keys: byte for byte what `JSONSerialization` writes with
/// `.sortedKeys`, at a small fraction of its cost (it was most of the simulator's CPU time on a
/// stream, which on a small machine slowed whatever ran beside it).
enum SortedJSON {
    /// The JSON text of `value`.
    static func string(_ value: Any) -> String {
        var output = ""
        output.reserveCapacity(256)
        write(value, to: &output)
        return output
    }

    static func write(_ value: Any, to output: inout String) {
        switch value {
        case let object as [String: Any]:
            output += "{"
            for (index, key) in object.keys.sorted(by: precedes).enumerated() {
                if index > 0 { output += "," }
                writeString(key, to: &output)
                output += ":"
                write(object[key]!, to: &output)
            }
            output += "}"
        case let array as [Any]:
            output += "["
            for (index, element) in array.enumerated() {
                if index > 0 { output += "," }
                write(element, to: &output)
            }
            output += "]"
        case let text as String: writeString(text, to: &output)
        case let flag as Bool: output += flag ? "true" : "false"
        case let number as Int: output += String(number)
        case is NSNull: output += "null"
        default:
            // Anything else the simulator never writes; fall back to Foundation for it.
            let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])) ?? Data()
            output += String(decoding: data, as: UTF8.self)
        }
    }

    /// Foundation's key order: case-insensitive first, then by code units.
    static func precedes(_ left: String, _ right: String) -> Bool {
        let (a, b) = (left.lowercased(), right.lowercased())
        return a != b ? a.utf16.lexicographicallyPrecedes(b.utf16) : left.utf16.lexicographicallyPrecedes(right.utf16)
    }

    static func writeString(_ text: String, to output: inout String) {
        output += "\""
        var plainStart = text.unicodeScalars.startIndex
        var index = plainStart
        let scalars = text.unicodeScalars
        while index < scalars.endIndex {
            let scalar = scalars[index]
            let escape: String?
            switch scalar {
            case "\"": escape = "\\\""
            case "\\": escape = "\\\\"
            case "/": escape = "\\/"
            case "\n": escape = "\\n"
            case "\r": escape = "\\r"
            case "\t": escape = "\\t"
            case "\u{08}": escape = "\\b"
            case "\u{0C}": escape = "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    escape = "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    escape = nil
                }
            }
            if let escape {
                output.unicodeScalars.append(contentsOf: scalars[plainStart..<index])
                output += escape
                plainStart = scalars.index(after: index)
            }
            index = scalars.index(after: index)
        }
        output.unicodeScalars.append(contentsOf: scalars[plainStart..<scalars.endIndex])
        output += "\""
    }
}
