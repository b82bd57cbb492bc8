import Foundation

/// Errors raised by the tokenizer.
public enum TokenizerError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The encoding name is not one this module knows.
    case unknownEncoding(String)
    /// No encoding is known for this model name.
    case unknownModel(String)
    /// The encoding file is not where it was looked for.
    case encodingFileMissing(name: String, path: String)
    /// The encoding file could not be read.
    case encodingFileUnreadable(name: String, path: String, reason: String)
    /// The encoding file's SHA-256 differs from the published one (wrong, truncated or corrupted file).
    case hashMismatch(name: String, path: String, expected: String, actual: String)
    /// The encoding file is not in `.tiktoken` format.
    case malformedEncodingFile(name: String, line: Int, reason: String)
    /// The text contains a special token that was not allowed (tiktoken's `disallowed_special`).
    case disallowedSpecialToken(String)
    /// A token id that the encoding does not define.
    case invalidTokenID(Int)

    public var description: String {
        switch self {
        case .unknownEncoding(let n):
            return "unknown encoding '\(n)' (known: \(EncodingName.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .unknownModel(let m):
            return "no encoding is known for model '\(m)'; pass an encoding name instead"
        case .encodingFileMissing(let n, let p):
            return "encoding \(n) not found at \(p); run `tollgate encodings install` or set TOLLGATE_ENCODINGS_DIR"
        case .encodingFileUnreadable(let n, let p, let r):
            return "cannot read encoding \(n) at \(p): \(r)"
        case .hashMismatch(let n, let p, let e, let a):
            return "encoding file \(p) for \(n) is wrong or truncated: SHA-256 \(a), expected \(e)"
        case .malformedEncodingFile(let n, let l, let r):
            return "encoding file for \(n) is malformed at line \(l): \(r)"
        case .disallowedSpecialToken(let t):
            return "the text contains the special token '\(t)', which is not allowed; allow it explicitly or encode it as ordinary text"
        case .invalidTokenID(let id):
            return "invalid token id \(id)"
        }
    }
}

/// The encodings this module supports.
public enum EncodingName: String, CaseIterable, Sendable, Codable {
    case cl100k_base
    case o200k_base

    /// SHA-256 of the official `.tiktoken` file (tiktoken's `expected_hash`).
    public var sha256: String {
        switch self {
        case .cl100k_base: return "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
        case .o200k_base: return "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
        }
    }

    /// Size in bytes of the official file.
    public var fileSize: Int {
        switch self {
        case .cl100k_base: return 1_681_126
        case .o200k_base: return 3_613_922
        }
    }

    /// The file name inside an encodings directory.
    public var fileName: String { rawValue + ".tiktoken" }

    /// The official public download location (the one tiktoken uses).
    public var downloadURL: URL {
        URL(string: "https://openaipublic.blob.core.windows.net/encodings/\(fileName)")!
    }

    /// The special tokens and their ids.
    public var specialTokens: [String: Int] {
        switch self {
        case .cl100k_base:
            return [
                "<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276,
            ]
        case .o200k_base:
            return ["<|endoftext|>": 199999, "<|endofprompt|>": 200018]
        }
    }

    var pattern: PreTokenizer.Pattern {
        switch self {
        case .cl100k_base: return .cl100k
        case .o200k_base: return .o200k
        }
    }
}

/// Which special tokens a call allows or disallows, like tiktoken's
/// `allowed_special` / `disallowed_special` (`"all"` or a set).
public enum SpecialTokenSet: Sendable, Equatable, ExpressibleByArrayLiteral {
    /// Every special token of the encoding.
    case all
    /// Exactly these special-token strings.
    case only(Set<String>)

    public init(arrayLiteral elements: String...) { self = .only(Set(elements)) }

    /// No special tokens.
    public static let none = SpecialTokenSet.only([])
}

/// A tiktoken-compatible byte-pair encoding (`cl100k_base` or `o200k_base`).
///
/// Loading verifies the file's SHA-256. Instances are immutable and safe to
/// share between threads; load once and reuse (see ``Encoding/shared(_:directory:)``).
///
/// ```swift
/// let enc = try Encoding.load(name: "o200k_base")
/// let ids = enc.encodeOrdinary("hello world")   // [24912, 2375]
/// let n = enc.count("hello world")              // 2
/// let text = try enc.decode(ids)                // "hello world"
/// ```
public final class Encoding: Sendable {
    /// The encoding's name.
    public let name: EncodingName
    /// Special tokens and their ids.
    public let specialTokens: [String: Int]
    let vocabulary: Vocabulary
    private let specialByID: [Int: String]
    private let specialsByLength: [(bytes: [UInt8], id: Int, text: String)]

    /// The number of token ids (mergeable ranks plus special tokens), like tiktoken's `n_vocab`.
    public var vocabularySize: Int {
        max(vocabulary.rankCount, (specialTokens.values.max() ?? 0) + 1)
    }

    // MARK: Loading

    /// The environment variable naming the directory that holds `<name>.tiktoken` files.
    public static let directoryEnvironmentVariable = "TOLLGATE_ENCODINGS_DIR"

    /// The directory used when none is given: `$TOLLGATE_ENCODINGS_DIR`, else
    /// `$XDG_CACHE_HOME/tollgate/encodings`, else `~/.cache/tollgate/encodings`.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let dir = environment[directoryEnvironmentVariable], !dir.isEmpty {
            return URL(fileURLWithPath: dir, isDirectory: true)
        }
        let cache: URL
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
            cache = URL(fileURLWithPath: xdg, isDirectory: true)
        } else {
            cache = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache", isDirectory: true)
        }
        return cache.appendingPathComponent("tollgate/encodings", isDirectory: true)
    }

    /// Loads an encoding by name from `directory` (default ``defaultDirectory(environment:)``),
    /// verifying the file's SHA-256 against the published hash.
    public static func load(name: String, directory: URL? = nil) throws(TokenizerError) -> Encoding {
        guard let known = EncodingName(rawValue: name) else { throw .unknownEncoding(name) }
        return try load(known, directory: directory)
    }

    /// Loads an encoding from `directory` (default ``defaultDirectory(environment:)``), verifying its SHA-256.
    public static func load(_ name: EncodingName, directory: URL? = nil) throws(TokenizerError) -> Encoding {
        let dir = directory ?? defaultDirectory()
        let file = dir.appendingPathComponent(name.fileName)
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw .encodingFileMissing(name: name.rawValue, path: file.path)
        }
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            throw .encodingFileUnreadable(name: name.rawValue, path: file.path, reason: "\(error)")
        }
        return try load(name, fileContents: data, path: file.path)
    }

    /// Builds an encoding from the contents of its `.tiktoken` file, verifying the SHA-256.
    public static func load(_ name: EncodingName, fileContents data: Data, path: String = "<memory>") throws(TokenizerError) -> Encoding {
        let actual = SHA256.hexDigest(data)
        guard actual == name.sha256 else {
            throw .hashMismatch(name: name.rawValue, path: path, expected: name.sha256, actual: actual)
        }
        let parsed: Result<Vocabulary, Vocabulary.ParseError> = data.withUnsafeBytes { raw in
            do throws(Vocabulary.ParseError) {
                return .success(try Vocabulary(tiktokenFile: raw.bindMemory(to: UInt8.self)))
            } catch {
                return .failure(error)
            }
        }
        switch parsed {
        case .success(let vocab):
            return Encoding(name: name, vocabulary: vocab)
        case .failure(.malformed(let line, let reason)):
            throw .malformedEncodingFile(name: name.rawValue, line: line, reason: reason)
        }
    }

    private init(name: EncodingName, vocabulary: Vocabulary) {
        self.name = name
        self.vocabulary = vocabulary
        self.specialTokens = name.specialTokens
        self.specialByID = Dictionary(uniqueKeysWithValues: name.specialTokens.map { ($0.value, $0.key) })
        self.specialsByLength = name.specialTokens
            .map { (bytes: Array($0.key.utf8), id: $0.value, text: $0.key) }
            .sorted { $0.bytes.count > $1.bytes.count }
    }

    private static let cacheLock = NSLock()
    nonisolated(unsafe) private static var cache: [String: Encoding] = [:]

    /// A process-wide cached instance: loaded (and verified) on first use, then shared.
    public static func shared(_ name: EncodingName, directory: URL? = nil) throws(TokenizerError) -> Encoding {
        let dir = directory ?? defaultDirectory()
        let key = name.rawValue + "\u{0}" + dir.standardizedFileURL.path
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if let e = cache[key] { return e }
        let e = try load(name, directory: dir)
        cache[key] = e
        return e
    }

    // MARK: Encoding

    /// Encodes `text` treating special-token text as ordinary text (tiktoken's `encode_ordinary`).
    public func encodeOrdinary(_ text: String) -> [Int] {
        var sink = ArraySink()
        sink.tokens.reserveCapacity(text.utf8.count / 4 + 1)
        var text = text
        text.withUTF8 { buf in
            guard let p = buf.baseAddress else { return }
            encodeSegment(p, 0, buf.count, &sink)
        }
        return sink.tokens
    }

    /// Encodes raw bytes, first decoding them as UTF-8 with invalid sequences
    /// replaced by U+FFFD, as Python's `bytes.decode("utf-8", errors="replace")` does.
    public func encodeOrdinary(bytes: some Sequence<UInt8>) -> [Int] {
        encodeOrdinary(String(decoding: Array(bytes), as: UTF8.self))
    }

    /// The number of tokens of `text` encoded as ordinary text, without building the id array.
    public func count(_ text: String) -> Int {
        var sink = CountingSink()
        var text = text
        text.withUTF8 { buf in
            guard let p = buf.baseAddress else { return }
            encodeSegment(p, 0, buf.count, &sink)
        }
        return sink.count
    }

    /// Encodes `text` like tiktoken's `encode(text, allowed_special=…, disallowed_special=…)`.
    ///
    /// Allowed special tokens found in the text become their special ids; a
    /// disallowed one makes the call throw ``TokenizerError/disallowedSpecialToken(_:)``
    /// (by default every special token is disallowed, as in tiktoken). Pass
    /// `disallowedSpecial: .none` to encode special-token text as ordinary text.
    public func encode(
        _ text: String, allowedSpecial: SpecialTokenSet = .none, disallowedSpecial: SpecialTokenSet = .all
    ) throws(TokenizerError) -> [Int] {
        var sink = ArraySink()
        sink.tokens.reserveCapacity(text.utf8.count / 4 + 1)
        try encodeWithSpecials(text, allowedSpecial, disallowedSpecial, &sink)
        return sink.tokens
    }

    /// Counts tokens like ``encode(_:allowedSpecial:disallowedSpecial:)`` without building the id array.
    public func count(
        _ text: String, allowedSpecial: SpecialTokenSet, disallowedSpecial: SpecialTokenSet = .all
    ) throws(TokenizerError) -> Int {
        var sink = CountingSink()
        try encodeWithSpecials(text, allowedSpecial, disallowedSpecial, &sink)
        return sink.count
    }

    private func resolve(_ set: SpecialTokenSet) -> Set<String> {
        switch set {
        case .all: return Set(specialTokens.keys)
        case .only(let s): return s
        }
    }

    private func encodeWithSpecials<S: TokenSink>(
        _ text: String, _ allowedSpecial: SpecialTokenSet, _ disallowedSpecial: SpecialTokenSet, _ sink: inout S
    ) throws(TokenizerError) {
        let allowed = resolve(allowedSpecial)
        let disallowed: Set<String>
        switch disallowedSpecial {
        case .all: disallowed = Set(specialTokens.keys).subtracting(allowed)
        case .only(let s): disallowed = s
        }
        if !disallowed.isEmpty {
            // Report the leftmost disallowed token, as tiktoken's regex search does.
            var first: (Int, String)?
            for token in disallowed {
                if let r = text.utf8.firstRange(of: token.utf8) {
                    let offset = text.utf8.distance(from: text.utf8.startIndex, to: r.lowerBound)
                    if first == nil || offset < first!.0 { first = (offset, token) }
                }
            }
            if let (_, token) = first { throw .disallowedSpecialToken(token) }
        }
        let specials = specialsByLength.filter { allowed.contains($0.text) }
        var text = text
        text.withUTF8 { buf in
            guard let p = buf.baseAddress else { return }
            let n = buf.count
            if specials.isEmpty {
                encodeSegment(p, 0, n, &sink)
                return
            }
            var segmentStart = 0
            var i = 0
            while i < n {
                if p[i] == UInt8(ascii: "<") {
                    var matched: (Int, Int)?
                    for s in specials where s.bytes.count <= n - i {
                        if s.bytes.withUnsafeBufferPointer({ memcmp($0.baseAddress!, p + i, $0.count) == 0 }) {
                            matched = (s.id, s.bytes.count)
                            break
                        }
                    }
                    if let (id, len) = matched {
                        if i > segmentStart { encodeSegment(p, segmentStart, i, &sink) }
                        sink.emit(UInt32(id))
                        i += len
                        segmentStart = i
                        continue
                    }
                }
                i += 1
            }
            if segmentStart < n { encodeSegment(p, segmentStart, n, &sink) }
        }
    }

    /// Pre-tokenizes `p[start..<end]` and byte-pair-encodes every piece.
    @inline(__always)
    func encodeSegment<S: TokenSink>(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ sink: inout S) {
        let vocab = vocabulary
        let scanner = PreTokenizer()
        var i = start
        switch name.pattern {
        case .cl100k:
            while i < end {
                let e = scanner.nextCl100k(p, i, end)
                vocab.encodePiece(p + i, e - i, &sink)
                i = e
            }
        case .o200k:
            while i < end {
                let e = scanner.nextO200k(p, i, end)
                vocab.encodePiece(p + i, e - i, &sink)
                i = e
            }
        }
    }

    /// Splits `text` into the pieces the pre-tokenizer produces (for inspection and tests).
    public func preTokenize(_ text: String) -> [String] {
        var pieces: [String] = []
        var text = text
        text.withUTF8 { buf in
            guard let p = buf.baseAddress else { return }
            let scanner = PreTokenizer()
            var i = 0
            while i < buf.count {
                let e = name.pattern == .cl100k
                    ? scanner.nextCl100k(p, i, buf.count) : scanner.nextO200k(p, i, buf.count)
                pieces.append(String(decoding: UnsafeBufferPointer(start: p + i, count: e - i), as: UTF8.self))
                i = e
            }
        }
        return pieces
    }

    // MARK: Decoding

    /// The bytes of the given tokens, concatenated.
    public func decodeBytes(_ tokens: some Sequence<Int>) throws(TokenizerError) -> [UInt8] {
        var out: [UInt8] = []
        for t in tokens {
            if let b = vocabulary.tokenBytes(t) {
                out.append(contentsOf: b)
            } else if let s = specialByID[t] {
                out.append(contentsOf: s.utf8)
            } else {
                throw .invalidTokenID(t)
            }
        }
        return out
    }

    /// Decodes tokens to text; bytes that are not valid UTF-8 become U+FFFD (tiktoken's `errors="replace"`).
    public func decode(_ tokens: some Sequence<Int>) throws(TokenizerError) -> String {
        String(decoding: try decodeBytes(tokens), as: UTF8.self)
    }

    /// The bytes of one token.
    public func tokenBytes(_ token: Int) throws(TokenizerError) -> [UInt8] {
        if let b = vocabulary.tokenBytes(token) { return Array(b) }
        if let s = specialByID[token] { return Array(s.utf8) }
        throw .invalidTokenID(token)
    }
}
