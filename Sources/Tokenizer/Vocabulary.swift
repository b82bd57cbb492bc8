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
    /// Open-addressing table: (hash tag << 32) | (rank + 1); 0 = empty.
    private let slots: UnsafeMutablePointer<UInt64>
    private let mask: Int
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
            let h = Vocabulary.hash(p, len)
            var idx = Int(truncatingIfNeeded: h) & mask
            while slots[idx] != 0 { idx = (idx + 1) & mask }
            slots[idx] = (h >> 32) << 32 | UInt64(rank + 1)
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
    func rank(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt32 {
        if n == 2 { return pairRanks[Int(p[0]) << 8 | Int(p[1])] }
        if n == 1 { return byteRanks[Int(p[0])] }
        let h = Vocabulary.hash(p, n)
        let tag = h >> 32
        var idx = Int(truncatingIfNeeded: h) & mask
        while true {
            let s = slots[idx]
            if s == 0 { return Vocabulary.none }
            if s >> 32 == tag {
                let r = Int(s & 0xFFFF_FFFF) - 1
                let span = spans[r]
                if Int(span & 0xFFFF_FFFF) == n && memcmp(bytes + Int(span >> 32), p, n) == 0 {
                    return UInt32(r)
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
        let whole = rank(p, n)
        if whole != Vocabulary.none {
            sink.emit(whole)
            return
        }
        if n <= Vocabulary.smallPiece {
            smallMerge(p, n, &sink)
        } else {
            heapMerge(p, n, &sink)
        }
    }

    /// tiktoken's merge: repeatedly merge the adjacent pair with the lowest
    /// rank (leftmost on ties). Quadratic, but fastest for short pieces.
    private func smallMerge<S: TokenSink>(_ p: UnsafePointer<UInt8>, _ n: Int, _ sink: inout S) {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: n + 1) { starts in
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: n + 1) { ranks in
                withUnsafeTemporaryAllocation(of: UInt32.self, capacity: n + 1) { segs in
                    for i in 0..<n {
                        starts[i] = i
                        segs[i] = byteRanks[Int(p[i])]
                    }
                    for i in 0..<(n - 1) { ranks[i] = pairRanks[Int(p[i]) << 8 | Int(p[i + 1])] }
                    ranks[n - 1] = Vocabulary.none
                    starts[n] = n
                    ranks[n] = Vocabulary.none
                    var len = n + 1
                    while true {
                        var minRank = Vocabulary.none
                        var minIndex = 0
                        for i in 0..<(len - 1) where ranks[i] < minRank {
                            minRank = ranks[i]
                            minIndex = i
                        }
                        if minRank == Vocabulary.none { break }
                        let i = minIndex
                        segs[i] = minRank
                        if i + 3 < len {
                            ranks[i] = rank(p + starts[i], starts[i + 3] - starts[i])
                        } else {
                            ranks[i] = Vocabulary.none
                        }
                        if i > 0 {
                            ranks[i - 1] = rank(p + starts[i - 1], starts[i + 2] - starts[i - 1])
                        }
                        // Remove entry i + 1.
                        var j = i + 1
                        while j < len - 1 {
                            starts[j] = starts[j + 1]
                            ranks[j] = ranks[j + 1]
                            segs[j] = segs[j + 1]
                            j += 1
                        }
                        len -= 1
                    }
                    for i in 0..<(len - 1) { sink.emit(segs[i]) }
                }
            }
        }
    }

    /// The same merge order with a min-heap over (rank, position) and a linked
    /// list of parts: O(n log n) for long pieces (runs of one character, digits…).
    private func heapMerge<S: TokenSink>(_ p: UnsafePointer<UInt8>, _ n: Int, _ sink: inout S) {
        let next = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        let prev = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        let segs = UnsafeMutablePointer<UInt32>.allocate(capacity: n)
        let pairs = UnsafeMutablePointer<UInt32>.allocate(capacity: n)
        let heapCapacity = 3 * n + 1
        let heap = UnsafeMutablePointer<UInt64>.allocate(capacity: heapCapacity)
        defer {
            next.deallocate(); prev.deallocate(); segs.deallocate(); pairs.deallocate(); heap.deallocate()
        }
        var heapCount = 0
        @inline(__always) func push(_ v: UInt64) {
            var i = heapCount
            heapCount += 1
            while i > 0 {
                let parent = (i - 1) >> 1
                let pv = heap[parent]
                if pv <= v { break }
                heap[i] = pv
                i = parent
            }
            heap[i] = v
        }
        @inline(__always) func pop() -> UInt64 {
            let top = heap[0]
            heapCount -= 1
            let v = heap[heapCount]
            var i = 0
            while true {
                var c = 2 * i + 1
                if c >= heapCount { break }
                if c + 1 < heapCount && heap[c + 1] < heap[c] { c += 1 }
                if heap[c] >= v { break }
                heap[i] = heap[c]
                i = c
            }
            heap[i] = v
            return top
        }
        for i in 0..<n {
            next[i] = Int32(i + 1)
            prev[i] = Int32(i - 1)
            segs[i] = byteRanks[Int(p[i])]
        }
        for i in 0..<(n - 1) {
            let r = pairRanks[Int(p[i]) << 8 | Int(p[i + 1])]
            pairs[i] = r
            if r != Vocabulary.none { push(UInt64(r) << 32 | UInt64(i)) }
        }
        pairs[n - 1] = Vocabulary.none
        while heapCount > 0 {
            let top = pop()
            let r = UInt32(top >> 32)
            let i = Int(top & 0xFFFF_FFFF)
            if pairs[i] != r { continue }  // stale entry
            let j = Int(next[i])
            segs[i] = r
            let nj = Int(next[j])
            next[i] = Int32(nj)
            if nj < n { prev[nj] = Int32(i) }
            pairs[j] = Vocabulary.none
            if nj < n {
                let e = Int(next[nj])
                let pr = rank(p + i, e - i)
                pairs[i] = pr
                if pr != Vocabulary.none { push(UInt64(pr) << 32 | UInt64(i)) }
            } else {
                pairs[i] = Vocabulary.none
            }
            let q = Int(prev[i])
            if q >= 0 {
                let pr = rank(p + q, nj - q)
                pairs[q] = pr
                if pr != Vocabulary.none { push(UInt64(pr) << 32 | UInt64(q)) }
            }
        }
        var i = 0
        while i < n {
            sink.emit(segs[i])
            i = Int(next[i])
        }
    }
}
