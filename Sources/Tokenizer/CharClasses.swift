/// Unicode 16 character classes for the pre-tokenizer, one byte of flags per
/// code point, built once from the generated ``unicode16ClassRanges``.
enum CharClass {
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let space: UInt8 = 4
    /// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]` of o200k's pattern.
    static let upperish: UInt8 = 8
    /// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]` of o200k's pattern.
    static let lowerish: UInt8 = 16
    static let mark: UInt8 = 32

    /// Flags for every code point 0...0x10FFFF (1.1 MB, immutable after construction).
    nonisolated(unsafe) static let table: UnsafePointer<UInt8> = {
        let count = 0x11_0000
        let t = UnsafeMutablePointer<UInt8>.allocate(capacity: count)
        t.initialize(repeating: 0, count: count)
        func hex(_ s: inout Substring.UTF8View) -> Int {
            var v = 0
            while let c = s.first {
                s = s.dropFirst()
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): v = v * 16 + Int(c - UInt8(ascii: "0"))
                case UInt8(ascii: "A")...UInt8(ascii: "F"): v = v * 16 + Int(c - UInt8(ascii: "A")) + 10
                default: return v
                }
            }
            return v
        }
        var s = Substring(unicode16ClassRanges).utf8
        while !s.isEmpty {
            let first = hex(&s), last = hex(&s), flags = hex(&s)
            (t + first).update(repeating: UInt8(flags), count: last - first + 1)
        }
        return UnsafePointer(t)
    }()

    /// Flags of a Unicode scalar value.
    @inline(__always)
    static func of(_ scalar: UInt32) -> UInt8 { table[Int(scalar)] }
}
