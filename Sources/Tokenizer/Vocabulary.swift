#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Receives the token ranks produced by the BPE merge.
protocol TokenSink {
    mutating func emit(_ rank: UInt32)
}

/// Counts tokens without storing them.
struct CountingSink: TokenSink {
    var count = 0
    @inline(__always) mutating func emit(_ rank: UInt32) { count += 1 }
}

/// Collects token ids.
struct ArraySink: TokenSink {
    var tokens: [Int] = []
    @inline(__always) mutating func emit(_ rank: UInt32) { tokens.append(Int(rank)) }
}

/// A part of a long piece during the tree merge: linked-list neighbours and its token.
struct MergeNode {
    var next: Int32
    var prev: Int32
    var seg: UInt32
}

/// The mergeable ranks of an encoding: token bytes ↔ rank, in immutable
/// manually managed storage (no exclusivity checks or reference counting in
/// the hot loops), plus the byte-pair-encoding merge.
final class Vocabulary: @unchecked Sendable {
    static let none = UInt32.max

    /// Concatenated token bytes.
    private let bytes: UnsafeMutablePointer<UInt8>
    /// Per rank: offset into `bytes` (UInt32) and length (UInt32); length 0 = no token.
    private let spans: UnsafeMutablePointer<UInt64>
    /// Number of rank slots (highest rank + 1).
    let rankCount: Int
    /// Number of tokens.
    let tokenCount: Int
    /// Open-addressing table; each slot packs a 12-bit hash tag, the token length
    /// (8 bits), its offset in `bytes` (24 bits) and its rank (20 bits), so a
    /// look-up touches only the slot and the token bytes. 0 = empty.
    private let slots: UnsafeMutablePointer<UInt64>
    private let mask: Int
    /// Longest token in bytes: longer strings are never looked up.
    private let maxTokenLength: Int
    /// One bit per hash bucket, set when some token hashes there: a cache-friendly
    /// first check that rejects most failed look-ups before touching `slots`.
    private let filter: UnsafeMutablePointer<UInt64>
    private let filterShift: UInt64
    /// Rank of each single byte.
    private let byteRanks: UnsafeMutablePointer<UInt32>
    /// Rank of each two-byte string (index b0 << 8 | b1), or `none`.
    private let pairRanks: UnsafeMutablePointer<UInt32>

    /// Pieces up to this many bytes use the simple quadratic merge; longer ones use a heap.
    private static let smallPiece = 96

    enum ParseError: Error {
        case malformed(line: Int, reason: String)
    }

    /// Parses a `.tiktoken` file: one `base64(token) rank` per line.
    init(tiktokenFile data: UnsafeBufferPointer<UInt8>) throws(ParseError) {
        let n = data.count
        guard let base = data.baseAddress, n > 0 else { throw .malformed(line: 1, reason: "empty file") }
        // Pass 1: count lines.
        var lines = 0
        for i in 0..<n where base[i] == 0x0A { lines += 1 }
        if base[n - 1] != 0x0A { lines += 1 }
        let tokenBytes = UnsafeMutablePointer<UInt8>.allocate(capacity: n)
        var ranks = [UInt32](repeating: 0, count: lines)
        var tokenSpans = [UInt64](repeating: 0, count: lines)
        var used = 0
        var maxRank = -1
        var lineIndex = 0
        var i = 0
        let decode = Vocabulary.base64Table
        while i < n {
            var lineEnd = i
            while lineEnd < n && base[lineEnd] != 0x0A { lineEnd += 1 }
            var contentEnd = lineEnd
            if contentEnd > i && base[contentEnd - 1] == 0x0D { contentEnd -= 1 }
            if contentEnd == i {
                // Blank line (e.g. trailing); tiktoken skips empty lines.
                i = lineEnd + 1
                continue
            }
            var space = i
            while space < contentEnd && base[space] != 0x20 { space += 1 }
            guard space < contentEnd, space > i else {
                tokenBytes.deallocate()
                throw .malformed(line: lineIndex + 1, reason: "expected '<base64> <rank>'")
            }
            // Base64 decode [i, space).
            let start = used
            var acc: UInt32 = 0
            var bits = 0
            var j = i
            while j < space {
                let c = base[j]
                j += 1
                if c == UInt8(ascii: "=") { break }
                let v = decode[Int(c)]
                if v == 0xFF {
                    tokenBytes.deallocate()
                    throw .malformed(line: lineIndex + 1, reason: "invalid base64")
                }
                acc = acc << 6 | UInt32(v)
                bits += 6
                if bits >= 8 {
                    bits -= 8
                    tokenBytes[used] = UInt8(truncatingIfNeeded: acc >> UInt32(bits))
                    used += 1
                }
            }
            // Rank.
            var rank = 0
            var k = space + 1
            guard k < contentEnd else {
                tokenBytes.deallocate()
                throw .malformed(line: lineIndex + 1, reason: "missing rank")
            }
            while k < contentEnd {
                let d = base[k]
                guard d >= 0x30 && d <= 0x39, rank < 100_000_000 else {
                    tokenBytes.deallocate()
                    throw .malformed(line: lineIndex + 1, reason: "invalid rank")
                }
                rank = rank * 10 + Int(d - 0x30)
                k += 1
            }
            guard used > start else {
                tokenBytes.deallocate()
                throw .malformed(line: lineIndex + 1, reason: "empty token")
            }
            ranks[lineIndex] = UInt32(rank)
            tokenSpans[lineIndex] = UInt64(start) << 32 | UInt64(used - start)
            maxRank = max(maxRank, rank)
            lineIndex += 1
            i = lineEnd + 1
        }
        let count = lineIndex
        guard used + 8 <= n else {
            tokenBytes.deallocate()
            throw .malformed(line: lineIndex, reason: "unexpected layout")
        }
        (tokenBytes + used).initialize(repeating: 0, count: 8)  // padding for 8-byte loads
        guard count > 0 else {
            tokenBytes.deallocate()
            throw .malformed(line: 1, reason: "no tokens")
        }
        self.bytes = tokenBytes
        self.tokenCount = count
        self.rankCount = maxRank + 1
        self.spans = .allocate(capacity: rankCount)
        spans.initialize(repeating: 0, count: rankCount)
        var capacity = 1024
        while capacity < count * 2 { capacity <<= 1 }
        self.mask = capacity - 1
        self.slots = .allocate(capacity: capacity)
        slots.initialize(repeating: 0, count: capacity)
        var filterBits = 1 << 16
        while filterBits < count * 8 { filterBits <<= 1 }
        self.filter = .allocate(capacity: filterBits / 64)
        filter.initialize(repeating: 0, count: filterBits / 64)
        self.filterShift = UInt64(64 - filterBits.trailingZeroBitCount)
        var longest = 0
        for t in 0..<count { longest = max(longest, Int(tokenSpans[t] & 0xFFFF_FFFF)) }
        self.maxTokenLength = longest
        self.byteRanks = .allocate(capacity: 256)
        byteRanks.initialize(repeating: Vocabulary.none, count: 256)
        self.pairRanks = .allocate(capacity: 65536)
        pairRanks.initialize(repeating: Vocabulary.none, count: 65536)
        for t in 0..<count {
            let rank = Int(ranks[t])
            guard spans[rank] == 0 else {
                throw .malformed(line: t + 1, reason: "duplicate rank \(rank)")
            }
            let span = tokenSpans[t]
            spans[rank] = span
            let off = Int(span >> 32), len = Int(span & 0xFFFF_FFFF)
            let p = UnsafePointer(bytes + off)
            if len == 1 { byteRanks[Int(p[0])] = UInt32(rank) }
            if len == 2 { pairRanks[Int(p[0]) << 8 | Int(p[1])] = UInt32(rank) }
            guard rank < 1 << 20, off + len < 1 << 24, len < 256 else {
                throw .malformed(line: t + 1, reason: "vocabulary too large for this implementation")
            }
            let h = Vocabulary.hash(p, len)
            var idx = Int(truncatingIfNeeded: h) & mask
            while slots[idx] != 0 { idx = (idx + 1) & mask }
            slots[idx] = (h >> 52) << 52 | UInt64(len) << 44 | UInt64(off) << 20 | UInt64(rank)
            let bit = Int(truncatingIfNeeded: (h &* 0x9E37_79B9_7F4A_7C15) >> filterShift)
            filter[bit >> 6] |= 1 << UInt64(bit & 63)
        }
        for b in 0..<256 where byteRanks[b] == Vocabulary.none {
            throw .malformed(line: 0, reason: "byte \(b) has no token")
        }
    }

    deinit {
        bytes.deallocate()
        spans.deallocate()
        slots.deallocate()
        byteRanks.deallocate()
        pairRanks.deallocate()
        filter.deallocate()
    }

    private static let base64Table: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }()

    @inline(__always)
    static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
        let k: UInt64 = 0x9E37_79B9_7F4A_7C15
        var h: UInt64 = 0xCBF2_9CE4_8422_2325 ^ UInt64(truncatingIfNeeded: n)
        let raw = UnsafeRawPointer(p)
        var i = 0
        while i + 8 <= n {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* k
            h ^= h >> 29
            i += 8
        }
        if i < n {
            var t: UInt64 = 0
            var s: UInt64 = 0
            while i < n {
                t |= UInt64(p[i]) << s
                s += 8
                i += 1
            }
            h = (h ^ t) &* k
        }
        h ^= h >> 32
        h = h &* 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 29
        return h
    }

    /// The rank of the byte string `p[0..<n]`, or `none`.
    @inline(__always)
    func rank(_ p: UnsafePointer<UInt8>, _ n: Int, filtered: Bool = true) -> UInt32 {
        if n == 2 { return pairRanks[Int(p[0]) << 8 | Int(p[1])] }
        if n == 1 { return byteRanks[Int(p[0])] }
        if n > maxTokenLength { return Vocabulary.none }
        let h = Vocabulary.hash(p, n)
        let bit = Int(truncatingIfNeeded: (h &* 0x9E37_79B9_7F4A_7C15) >> filterShift)
        if filtered && filter[bit >> 6] & (1 << UInt64(bit & 63)) == 0 { return Vocabulary.none }
        let want = (h >> 52) << 8 | UInt64(n)
        var idx = Int(truncatingIfNeeded: h) & mask
        while true {
            let s = slots[idx]
            if s == 0 { return Vocabulary.none }
            if s >> 44 == want {
                let token = UnsafePointer(bytes + Int((s >> 20) & 0xFF_FFFF))
                if n <= 8 {
                    // Token bytes are padded, so an 8-byte load is safe; the input is read bytewise.
                    var x: UInt64 = 0
                    for k in 0..<n { x |= UInt64(p[k]) << UInt64(8 * k) }
                    var y = UnsafeRawPointer(token).loadUnaligned(as: UInt64.self)
                    if n < 8 { y &= (1 << UInt64(8 * n)) &- 1 }
                    if x == y { return UInt32(truncatingIfNeeded: s & 0xF_FFFF) }
                } else if memcmp(token, p, n) == 0 {
                    return UInt32(truncatingIfNeeded: s & 0xF_FFFF)
                }
            }
            idx = (idx + 1) & mask
        }
    }

    /// The bytes of the token with rank `rank`, if there is one.
    func tokenBytes(_ rank: Int) -> UnsafeBufferPointer<UInt8>? {
        guard rank >= 0 && rank < rankCount else { return nil }
        let span = spans[rank]
        let len = Int(span & 0xFFFF_FFFF)
        guard len > 0 else { return nil }
        return UnsafeBufferPointer(start: bytes + Int(span >> 32), count: len)
    }

    // MARK: Byte-pair merge

    /// Encodes one pre-tokenized piece `p[0..<n]` (n ≥ 1).
    @inline(__always)
    func encodePiece<S: TokenSink>(_ p: UnsafePointer<UInt8>, _ n: Int, _ sink: inout S) {
        if n == 1 {
            sink.emit(byteRanks[Int(p[0])])
            return
        }
        // Whole pieces are usually tokens: skip the miss filter, one memory access fewer.
        let whole = rank(p, n, filtered: false)
        if whole != Vocabulary.none {
            sink.emit(whole)
            return
        }
        if n <= Vocabulary.smallPiece {
            smallMerge(p, n, &sink)
        } else {
            treeMerge(p, n, &sink)
        }
    }

    /// tiktoken's merge: repeatedly merge the adjacent pair with the lowest
    /// rank (leftmost on ties). Quadratic, but fastest for short pieces.
    ///
    /// Each part is one key `pairRank << 32 | start`; starts increase along the
    /// array, so the smallest key is the lowest rank, leftmost — found with a
    /// branch-free minimum over the keys.
    private func smallMerge<S: TokenSink>(_ p: UnsafePointer<UInt8>, _ n: Int, _ sink: inout S) {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: n + 1) { keys in
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: n + 1) { segs in
                let keys = keys.baseAddress!, segs = segs.baseAddress!
                let noneKey = UInt64(Vocabulary.none) << 32
                for i in 0..<(n - 1) {
                    keys[i] = UInt64(pairRanks[Int(p[i]) << 8 | Int(p[i + 1])]) << 32 | UInt64(i)
                    segs[i] = byteRanks[Int(p[i])]
                }
                keys[n - 1] = noneKey | UInt64(n - 1)
                segs[n - 1] = byteRanks[Int(p[n - 1])]
                keys[n] = noneKey | UInt64(n)
                @inline(__always) func start(_ i: Int) -> Int { Int(keys[i] & 0xFFFF_FFFF) }
                var len = n + 1
                while true {
                    var best = UInt64.max
                    for k in 0..<(len - 1) { best = min(best, keys[k]) }
                    if best >= noneKey { break }
                    var i = 0
                    while keys[i] != best { i += 1 }
                    segs[i] = UInt32(truncatingIfNeeded: best >> 32)
                    let si = start(i)
                    let r = i + 3 < len ? rank(p + si, start(i + 3) - si) : Vocabulary.none
                    keys[i] = UInt64(r) << 32 | UInt64(si)
                    if i > 0 {
                        let sq = start(i - 1)
                        keys[i - 1] = UInt64(rank(p + sq, start(i + 2) - sq)) << 32 | UInt64(sq)
                    }
                    // Remove part i + 1.
                    let tail = len - (i + 2)
                    memmove(keys + i + 1, keys + i + 2, tail * MemoryLayout<UInt64>.stride)
                    memmove(segs + i + 1, segs + i + 2, tail * MemoryLayout<UInt32>.stride)
                    len -= 1
                }
                for i in 0..<(len - 1) { sink.emit(segs[i]) }
            }
        }
    }

    /// The same merge order for long pieces (runs of one character, digits, random
    /// letters…): a linked list of parts and a tournament tree over the pair keys
    /// `rank << 32 | position`, so the leftmost lowest-rank pair is the root and
    /// every merge updates three leaves in O(log n). No stale entries, no scans.
    private func treeMerge<S: TokenSink>(_ p: UnsafePointer<UInt8>, _ n: Int, _ sink: inout S) {
        var size = 1
        while size < n { size <<= 1 }
        let tree = UnsafeMutablePointer<UInt64>.allocate(capacity: 2 * size)
        let nodes = UnsafeMutablePointer<MergeNode>.allocate(capacity: n)
        defer {
            tree.deallocate(); nodes.deallocate()
        }
        let empty = UInt64.max
        tree.initialize(repeating: empty, count: 2 * size)
        for i in 0..<n {
            (nodes + i).initialize(to: MergeNode(next: Int32(i + 1), prev: Int32(i - 1), seg: byteRanks[Int(p[i])]))
        }
        for i in 0..<(n - 1) {
            let r = pairRanks[Int(p[i]) << 8 | Int(p[i + 1])]
            if r != Vocabulary.none { tree[size + i] = UInt64(r) << 32 | UInt64(i) }
        }
        var k = size - 1
        while k >= 1 {
            tree[k] = min(tree[2 * k], tree[2 * k + 1])
            k -= 1
        }
        @inline(__always) func set(_ pos: Int, _ rank: UInt32) {
            var i = size + pos
            tree[i] = rank == Vocabulary.none ? empty : UInt64(rank) << 32 | UInt64(pos)
            i >>= 1
            while i >= 1 {
                let m = min(tree[2 * i], tree[2 * i + 1])
                if tree[i] == m { break }
                tree[i] = m
                i >>= 1
            }
        }
        while true {
            let top = tree[1]
            if top == empty { break }
            let r = UInt32(truncatingIfNeeded: top >> 32)
            let i = Int(top & 0xFFFF_FFFF)
            let j = Int(nodes[i].next)
            nodes[i].seg = r
            let nj = Int(nodes[j].next)
            nodes[i].next = Int32(nj)
            if nj < n { nodes[nj].prev = Int32(i) }
            set(j, Vocabulary.none)
            set(i, nj < n ? rank(p + i, Int(nodes[nj].next) - i) : Vocabulary.none)
            let q = Int(nodes[i].prev)
            if q >= 0 { set(q, rank(p + q, nj - q)) }
        }
        var i = 0
        while i < n {
            sink.emit(nodes[i].seg)
            i = Int(nodes[i].next)
        }
    }
}
