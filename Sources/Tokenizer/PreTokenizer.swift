/// Hand-written scanners that split text exactly like tiktoken's pre-tokenizer
/// regexes (run by `fancy-regex`, leftmost-first alternation with backtracking),
/// over UTF-8 bytes decoded to Unicode scalars, with Unicode 16 classes.
///
/// cl100k_base:
/// `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`
///
/// o200k_base (alternatives joined by `|`):
/// `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?`,
/// `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?`,
/// `\p{N}{1,3}`, ` ?[^\s\p{L}\p{N}]+[\r\n/]*`, `\s*[\r\n]+`, `\s+(?!\S)`, `\s+`.
///
/// "End of text" (`$`, `(?!\S)`) is the end of the segment being scanned, as in
/// tiktoken, which runs the regex on the text between special tokens.
private let cr: UInt8 = 0x0D
private let lf: UInt8 = 0x0A
/// letter | number | space: a scalar with none of these is in `[^\s\p{L}\p{N}]`.
private let notPunct: UInt8 = 7

struct PreTokenizer {
    /// The Unicode 16 class table, held here so hot loops do not re-check its lazy initialization.
    let table: UnsafePointer<UInt8>

    init() { table = CharClass.table }

    enum Pattern: Sendable {
        case cl100k
        case o200k
    }

    /// Decodes the scalar starting at `i` of valid UTF-8.
    @inline(__always)
    static func decode(_ p: UnsafePointer<UInt8>, _ i: Int) -> (scalar: UInt32, length: Int) {
        let b0 = UInt32(p[i])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(p[i + 1] & 0x3F), 2) }
        if b0 < 0xF0 {
            return ((b0 & 0x0F) << 12 | UInt32(p[i + 1] & 0x3F) << 6 | UInt32(p[i + 2] & 0x3F), 3)
        }
        return ((b0 & 0x07) << 18 | UInt32(p[i + 1] & 0x3F) << 12 | UInt32(p[i + 2] & 0x3F) << 6
            | UInt32(p[i + 3] & 0x3F), 4)
    }

    /// Flags and byte length of the scalar at `i`.
    @inline(__always)
    func classAt(_ p: UnsafePointer<UInt8>, _ i: Int) -> (flags: UInt8, length: Int) {
        let b0 = p[i]
        if b0 < 0x80 { return (table[Int(b0)], 1) }
        let (s, l) = PreTokenizer.decode(p, i)
        return (table[Int(s)], l)
    }


    /// Length in bytes of a contraction `'s 't 're 've 'm 'll 'd` (ASCII case-insensitive,
    /// and `ſ` U+017F folds to `s`) starting at the apostrophe at `i`, or 0.
    @inline(__always)
    func contraction(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        guard i + 1 < end else { return 0 }
        let c1 = p[i + 1]
        if c1 < 0x80 {
            switch c1 | 0x20 {
            case UInt8(ascii: "s"), UInt8(ascii: "d"), UInt8(ascii: "m"), UInt8(ascii: "t"):
                return 2
            case UInt8(ascii: "l"):
                return i + 2 < end && p[i + 2] | 0x20 == UInt8(ascii: "l") ? 3 : 0
            case UInt8(ascii: "v"), UInt8(ascii: "r"):
                return i + 2 < end && p[i + 2] | 0x20 == UInt8(ascii: "e") ? 3 : 0
            default:
                return 0
            }
        }
        if c1 == 0xC5 && i + 2 < end && p[i + 2] == 0xBF { return 3 }  // ſ
        return 0
    }

    /// Scans a whitespace run starting at `i` (whose first scalar is whitespace).
    /// Returns the run end, the position just after its last `\r`/`\n` (or -1),
    /// and the start of its last scalar.
    @inline(__always)
    func whitespaceRun(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int)
        -> (end: Int, afterLastNewline: Int, lastStart: Int)
    {
        var j = i
        var afterNL = -1
        var last = i
        while j < end {
            let b = p[j]
            if b < 0x80 {
                if table[Int(b)] & CharClass.space == 0 { break }
                last = j
                j += 1
                if b == cr || b == lf { afterNL = j }
            } else {
                let (f, l) = classAt(p, j)
                if f & CharClass.space == 0 { break }
                last = j
                j += l
            }
        }
        return (j, afterNL, last)
    }

    /// End of a run of scalars whose flags intersect `mask`, starting at `i`.
    @inline(__always)
    func run(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int, _ mask: UInt8) -> Int {
        var j = i
        while j < end {
            let (f, l) = classAt(p, j)
            if f & mask == 0 { break }
            j += l
        }
        return j
    }

    /// End of a run of "punctuation" scalars (not whitespace, letter or number).
    @inline(__always)
    func punctRun(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        var j = i
        while j < end {
            let (f, l) = classAt(p, j)
            if f & notPunct != 0 { break }
            j += l
        }
        return j
    }

    // MARK: cl100k_base

    /// End of the cl100k_base piece that starts at `i` (< `end`).
    @inline(__always)
    func nextCl100k(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        let b = p[i]
        let (f, len) = classAt(p, i)
        // '(?i:[sdmt]|ll|ve|re)
        if b == UInt8(ascii: "'") {
            let c = contraction(p, i, end)
            if c > 0 { return i + c }
        }
        // [^\r\n\p{L}\p{N}]?+\p{L}++
        if f & CharClass.letter != 0 { return run(p, i + len, end, CharClass.letter) }
        if f & CharClass.number == 0 && b != cr && b != lf {
            let j = i + len
            if j < end {
                let (g, l2) = classAt(p, j)
                if g & CharClass.letter != 0 { return run(p, j + l2, end, CharClass.letter) }
            }
        }
        // \p{N}{1,3}+
        if f & CharClass.number != 0 {
            var j = i + len
            var n = 1
            while n < 3 && j < end {
                let (g, l) = classAt(p, j)
                if g & CharClass.number == 0 { break }
                j += l
                n += 1
            }
            return j
        }
        //  ?[^\s\p{L}\p{N}]++[\r\n]*+
        var start = -1
        if f & notPunct == 0 {
            start = i
        } else if b == 0x20 && i + 1 < end && classAt(p, i + 1).flags & notPunct == 0 {
            start = i + 1
        }
        if start >= 0 {
            var j = punctRun(p, start, end)
            while j < end && (p[j] == cr || p[j] == lf) { j += 1 }
            return j
        }
        // Whitespace: \s++$ | \s*[\r\n] | \s+(?!\S) | \s
        let ws = whitespaceRun(p, i, end)
        if ws.end == end { return end }
        if ws.afterLastNewline > 0 { return ws.afterLastNewline }
        if ws.lastStart > i { return ws.lastStart }
        return i + len
    }

    // MARK: o200k_base

    /// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+` from `j`, with the optional contraction; -1 if no match.
    @inline(__always)
    func o200kWord(_ p: UnsafePointer<UInt8>, _ j: Int, _ end: Int) -> Int {
        var k = j
        var afterLastLower = -1
        while k < end {
            let (f, l) = classAt(p, k)
            if f & CharClass.upperish == 0 { break }
            k += l
            if f & CharClass.lowerish != 0 { afterLastLower = k }
        }
        var m: Int
        if k < end, classAt(p, k).flags & CharClass.lowerish != 0 {
            m = run(p, k, end, CharClass.lowerish)
        } else if afterLastLower >= 0 {
            m = afterLastLower
        } else {
            return -1
        }
        if m < end && p[m] == UInt8(ascii: "'") { m += contraction(p, m, end) }
        return m
    }

    /// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*` from `j`, with the optional contraction; -1 if no match.
    @inline(__always)
    func o200kUpperWord(_ p: UnsafePointer<UInt8>, _ j: Int, _ end: Int) -> Int {
        let k = run(p, j, end, CharClass.upperish)
        if k == j { return -1 }
        var m = run(p, k, end, CharClass.lowerish)
        if m < end && p[m] == UInt8(ascii: "'") { m += contraction(p, m, end) }
        return m
    }

    /// End of the o200k_base piece that starts at `i` (< `end`).
    @inline(__always)
    func nextO200k(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        let b = p[i]
        let (f, len) = classAt(p, i)
        let wordish = CharClass.upperish | CharClass.lowerish
        let prefixOK = f & (CharClass.letter | CharClass.number) == 0 && b != cr && b != lf && i + len < end
        // Alternative 1, with and then without the optional prefix.
        if prefixOK {
            let r = o200kWord(p, i + len, end)
            if r >= 0 { return r }
        }
        if f & wordish != 0 {
            let r = o200kWord(p, i, end)
            if r >= 0 { return r }
        }
        // Alternative 2.
        if prefixOK {
            let r = o200kUpperWord(p, i + len, end)
            if r >= 0 { return r }
        }
        if f & wordish != 0 {
            let r = o200kUpperWord(p, i, end)
            if r >= 0 { return r }
        }
        // \p{N}{1,3}
        if f & CharClass.number != 0 {
            var j = i + len
            var n = 1
            while n < 3 && j < end {
                let (g, l) = classAt(p, j)
                if g & CharClass.number == 0 { break }
                j += l
                n += 1
            }
            return j
        }
        //  ?[^\s\p{L}\p{N}]+[\r\n/]*
        var start = -1
        if f & notPunct == 0 {
            start = i
        } else if b == 0x20 && i + 1 < end && classAt(p, i + 1).flags & notPunct == 0 {
            start = i + 1
        }
        if start >= 0 {
            var j = punctRun(p, start, end)
            while j < end && (p[j] == cr || p[j] == lf || p[j] == UInt8(ascii: "/")) { j += 1 }
            return j
        }
        // Whitespace: \s*[\r\n]+ | \s+(?!\S) | \s+
        let ws = whitespaceRun(p, i, end)
        if ws.afterLastNewline > 0 { return ws.afterLastNewline }
        if ws.end == end { return end }
        if ws.lastStart > i { return ws.lastStart }
        return ws.end
    }
}
