import Foundation
import Testing
@testable import Tokenizer

/// One input for the tiktoken comparison: raw bytes (decoded lossily, as Python's
/// `errors="replace"` would before handing the text to tiktoken).
struct ParityCase: Sendable {
    let name: String
    let bytes: [UInt8]
}

enum ParityCases {
    /// Every policy XML file of ../shared/corpus.
    static func policyFiles() throws -> [ParityCase] {
        let root = TestData.policyCorpus
        guard let e = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return [] }
        var out: [ParityCase] = []
        for case let url as URL in e where url.pathExtension == "xml" {
            let rel = String(url.standardizedFileURL.path.dropFirst(root.path.count + 1))
            out.append(ParityCase(name: "policy:" + rel, bytes: try TestData.read(url)))
        }
        return out.sorted { $0.name < $1.name }
    }

    /// The first 24 KB of every file of the benchmark corpus (prose, code, JSON,
    /// multilingual, adversarial, edge cases).
    static func benchPrefixes() throws -> [ParityCase] {
        let corpus = TestData.bench.appendingPathComponent("corpus")
        let manifest = try String(contentsOf: corpus.appendingPathComponent("MANIFEST.tsv"), encoding: .utf8)
        var out: [ParityCase] = []
        for line in manifest.split(separator: "\n").dropFirst() {
            let cols = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard cols.count > 2 else { continue }
            let rel = "\(cols[0])/\(cols[1])"
            let bytes = try TestData.read(corpus.appendingPathComponent(rel))
            out.append(ParityCase(name: "bench-prefix:" + rel, bytes: utf8Prefix(bytes, 24_000)))
        }
        return out
    }

    /// Hand-written inputs for the cases the issue lists.
    static func handWritten() -> [ParityCase] {
        func t(_ name: String, _ s: String) -> ParityCase { ParityCase(name: name, bytes: Array(s.utf8)) }
        let swiftSource = """
        import Foundation

        /// A small actor.
        public actor Counter {
            private var value = 0
            public func increment(by n: Int = 1) async -> Int { value += n; return value }
        }
        let xs = [1, 2, 3].map { $0 * 2 }.filter { $0 > 2 }  // [4, 6]
        print("\\(xs)", terminator: "\\r\\n")
        if case .some(let v) = Optional(42), v != 0 { fatalError("don't") }
        """
        let pythonSource = """
        def num_tokens(text: str, *, model="gpt-4o") -> int:
            \"\"\"Return the count.\"\"\"
            if not text:
                return 0
            return len([t for t in text.split() if t.isalnum()])  # it's fine
        class Foo(object):
            def __init__(self):  self.x = {'a': 1, "b": [2, 3.5e-10]}
        """
        let prose = """
        The quick brown fox jumps over the lazy dog. It's a well-known pangram — isn't it? \
        They'll say we'd've known; YOU'RE RIGHT, I'M SURE. Don't panic! "Quoted," she said… 3.14159 and 1,000,000.
        """
        var cases: [ParityCase] = [
            t("swift-source", swiftSource),
            t("python-source", pythonSource),
            t("english-prose", prose),
            t("cjk", "中文测试：你好，世界！日本語のテキストです。カタカナとひらがな。한국어 문장입니다. 漢字かな交じり文。"),
            t("emoji-zwj", "👨‍👩‍👧‍👦 family, 👩🏽‍💻 coder, 🏳️‍🌈 flag, 🇺🇸🇩🇪 flags, 1️⃣ keycap, ❤️‍🔥, 🧑‍🤝‍🧑 done"),
            t("combining-marks", "e\u{301}te\u{301} Zalgo: Z\u{36B}\u{36B}\u{34D}a\u{30A}\u{35B}l\u{300}g\u{350}o\u{305} \u{301}\u{302} leading, cafe\u{301}, n\u{303}"),
            t("rtl", "مرحبا بالعالم! هذا نص عربي. שלום עולם, זה טקסט בעברית. mixed עברית and English ١٢٣ ۴۵۶"),
            t("contractions", "it's IT'S it'S don't DON'T we're we've I'm I'll he'd 'll 'LL 'Ve 're 's 'ſ aſ a'ſ a'K a'k x'\u{17F}t"),
            t("casing-o200k", "HelloWorld XMLHttpRequest iPhone ABCdef abcDEF ǅungla ʰmodifier Ǆ ǈ NASA's JSONParser's"),
            t("whitespace-mix", "a  b\t\tc \n\n d \r\n e\u{A0}\u{A0}f\u{2003}g\u{3000}h\u{85}i\u{2028}j\u{1C}\u{1D}k   \n"),
            t("trailing-whitespace", "end with spaces   "),
            t("trailing-newlines", "lines\n\n\n"),
            t("numbers", "1 12 123 1234 12345 3.14 1,234,567 ١٢٣٤٥ ४५६७ ½ ² Ⅻ 0x1F 1e10"),
            t("special-token-text", "<|endoftext|> <|fim_prefix|>x<|fim_middle|>y<|fim_suffix|> <|endofprompt|> <|im_start|>"),
            t("unicode17-new", "a\u{88F}b \u{1E6C0}\u{1E6C1} x\u{A7CE}y 12\u{10EC5}3 it'\u{A7D2} \u{2B73A}\u{323B0}"),
            t("long-whitespace", String(repeating: " ", count: 5000) + "x" + String(repeating: "\n", count: 3000)
                + String(repeating: " \t", count: 2000) + "y" + String(repeating: "\u{3000}", count: 1000)),
            t("long-digits", String((0..<20000).map { Character(String($0 * 7919 % 10)) })),
            t("100k-a", String(repeating: "a", count: 100_000)),
            t("100k-space", String(repeating: " ", count: 100_000)),
            t("100k-euro", String(repeating: "€", count: 34_000)),
            t("100k-cjk", String(repeating: "中", count: 34_000)),
            t("100k-exclaim", String(repeating: "!", count: 100_000)),
            t("100k-newline", String(repeating: "\n", count: 100_000)),
        ]
        // Random lower-case letters without separators: one long piece, exercises the heap merge.
        var rng = SplitMix64(seed: 7)
        let letters = Array("abcdefghijklmnopqrstuvwxyz".utf8)
        cases.append(ParityCase(name: "random-letters", bytes: (0..<30_000).map { _ in letters.randomElement(using: &rng)! }))
        // Invalid UTF-8, decoded lossily as Python's errors="replace" does.
        cases.append(ParityCase(name: "invalid-utf8-handmade", bytes: [
            0x61, 0xFF, 0x62, 0xC3, 0x28, 0xE2, 0x82, 0x20, 0xF0, 0x9F, 0x98, 0x41, 0xED, 0xA0, 0x80, 0x42,
            0xC0, 0xAF, 0xF4, 0x90, 0x80, 0x80, 0x80, 0xE0, 0x80, 0xAF, 0x27, 0x73, 0xF8, 0x88, 0x80, 0x80, 0x80,
        ]))
        cases.append(ParityCase(name: "invalid-utf8-random", bytes: (0..<20_000).map { _ in UInt8.random(in: 0...255, using: &rng) }))
        return cases
    }

    static func all() throws -> [ParityCase] {
        try handWritten() + policyFiles() + benchPrefixes()
    }
}

@Suite("Identical ids to tiktoken", .enabled(if: TestData.runDataTests), .serialized)
struct ParityTests {
    static let fixtureURL = TestData.fixtures.appendingPathComponent("tiktoken-expected.tsv")

    static func ours(_ enc: Encoding, _ c: ParityCase) -> [Int] {
        enc.encodeOrdinary(bytes: c.bytes)
    }

    @Test("every case, both encodings (tiktoken when installed, else committed counts and id digests)",
          arguments: EncodingName.allCases)
    func parity(name: EncodingName) throws {
        let enc = try TestData.encoding(name)
        let cases = try ParityCases.all()
        #expect(cases.count > 300)
        let ours = cases.map { Self.ours(enc, $0) }
        for (c, ids) in zip(cases, ours) {
            #expect(try enc.decodeBytes(ids) == Array(String(decoding: c.bytes, as: UTF8.self).utf8), "\(c.name) round trip")
        }
        if Tiktoken.available {
            let theirs = try Tiktoken.encode(name, cases.map(\.bytes))
            var failures = 0
            for (i, c) in cases.enumerated() where ours[i] != theirs[i] {
                failures += 1
                let k = zip(ours[i], theirs[i]).prefix { $0 == $1 }.count
                Issue.record("\(name.rawValue) \(c.name): differs at token \(k): ours \(Array(ours[i][k...].prefix(8))) tiktoken \(Array(theirs[i][k...].prefix(8)))")
            }
            #expect(failures == 0)
            if ProcessInfo.processInfo.environment["TOLLGATE_UPDATE_FIXTURES"] == "1" {
                try Self.writeFixture(name, cases, theirs)
            }
        } else {
            let fixture = try Self.readFixture()
            for (c, ids) in zip(cases, ours) {
                guard let (count, digest) = fixture["\(name.rawValue)\t\(c.name)"] else {
                    Issue.record("no committed expectation for \(name.rawValue) \(c.name); run with tiktoken and TOLLGATE_UPDATE_FIXTURES=1")
                    continue
                }
                #expect(ids.count == count, "\(name.rawValue) \(c.name)")
                #expect(idsDigest(ids) == digest, "\(name.rawValue) \(c.name)")
            }
        }
    }

    static func readFixture() throws -> [String: (Int, String)] {
        let text = try String(contentsOf: fixtureURL, encoding: .utf8)
        var out: [String: (Int, String)] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let c = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard c.count == 4, let n = Int(c[2]) else { continue }
            out["\(c[0])\t\(c[1])"] = (n, String(c[3]))
        }
        return out
    }

    /// Rewrites this encoding's rows of the fixture from tiktoken's output.
    static func writeFixture(_ name: EncodingName, _ cases: [ParityCase], _ ids: [[Int]]) throws {
        var rows: [String] = []
        if let old = try? String(contentsOf: fixtureURL, encoding: .utf8) {
            rows = old.split(separator: "\n").map(String.init)
                .filter { !$0.hasPrefix("#") && !$0.hasPrefix(name.rawValue + "\t") }
        }
        for (c, t) in zip(cases, ids) { rows.append("\(name.rawValue)\t\(c.name)\t\(t.count)\t\(idsDigest(t))") }
        rows.sort()
        let header = "# tiktoken 0.14 encode_ordinary results: encoding, case, token count, SHA-256 of the comma-joined ids.\n"
            + "# Regenerate: TOLLGATE_UPDATE_FIXTURES=1 swift test --filter TokenizerTests.ParityTests (needs pip install tiktoken).\n"
        try (header + rows.joined(separator: "\n") + "\n").write(to: fixtureURL, atomically: true, encoding: .utf8)
    }

    @Test("allowed special tokens match tiktoken's encode(allowed_special=\"all\")", arguments: EncodingName.allCases)
    func specials(name: EncodingName) throws {
        let enc = try TestData.encoding(name)
        let texts = [
            "<|endoftext|>", "hello <|endoftext|> world<|endofprompt|>", "a<|fim_prefix|>b<|fim_middle|>c<|fim_suffix|>",
            "<|endoftext|><|endoftext|>  <|endoftext", "<|endof<|endoftext|>text|>", "no specials here",
        ]
        let ours = try texts.map { try enc.encode($0, allowedSpecial: .all) }
        if Tiktoken.available {
            let theirs = try Tiktoken.encode(name, texts.map { Array($0.utf8) }, allowAllSpecial: true)
            #expect(ours == theirs)
        }
        let eot = enc.specialTokens["<|endoftext|>"]!
        #expect(try enc.encode("<|endoftext|>", allowedSpecial: ["<|endoftext|>"]) == [eot])
        #expect(throws: TokenizerError.disallowedSpecialToken("<|endoftext|>")) { try enc.encode("x <|endoftext|>") }
        #expect(throws: TokenizerError.disallowedSpecialToken("<|endofprompt|>")) {
            try enc.encode("<|endofprompt|> <|endoftext|>", allowedSpecial: ["<|endoftext|>"])
        }
        // disallowed: none → ordinary text, like encode_ordinary.
        let text = "x <|endoftext|> y"
        #expect(try enc.encode(text, disallowedSpecial: .none) == enc.encodeOrdinary(text))
        #expect(try enc.count(text, allowedSpecial: .all) == enc.encode(text, allowedSpecial: .all).count)
        #expect(try enc.decode(enc.encode(text, allowedSpecial: .all)) == text)
    }
}
