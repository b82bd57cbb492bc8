import Foundation
import Testing
@testable import Tokenizer

/// Locations of the shared reference data (`../shared` beside the package root).
enum TestData {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let shared = packageRoot.appendingPathComponent("../shared").standardizedFileURL
    static let encodings = shared.appendingPathComponent("encodings")
    static let bench = shared.appendingPathComponent("tokenizer-bench")
    static let policyCorpus = shared.appendingPathComponent("corpus")
    static let fixtures = packageRoot.appendingPathComponent("Tests/TokenizerTests/Fixtures")

    static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"
    static let encodingsPresent = FileManager.default.fileExists(
        atPath: encodings.appendingPathComponent("cl100k_base.tiktoken").path)
    static let benchPresent = FileManager.default.fileExists(atPath: bench.appendingPathComponent("expected.tsv").path)
    /// Run data-dependent tests when the data is there, and always on CI (where missing data must fail).
    static let runDataTests = encodingsPresent || isCI
    /// Run the whole 20 MB benchmark corpus (slow in debug builds).
    static let fullCorpus = ProcessInfo.processInfo.environment["TOLLGATE_TOKENIZER_FULL_CORPUS"] == "1"

    static func encoding(_ name: EncodingName) throws -> Encoding {
        try Encoding.shared(name, directory: encodings)
    }

    static func read(_ url: URL) throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }
}

/// Runs tiktoken (python3 + `pip install tiktoken`) on batches of inputs.
enum Tiktoken {
    static let python = ProcessInfo.processInfo.environment["TOLLGATE_PYTHON"] ?? "python3"

    static let available: Bool = {
        guard TestData.encodingsPresent else { return false }
        return (try? run(["-c", "import tiktoken"])) == 0
    }()

    @discardableResult
    static func run(_ args: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [python] + args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    private static let script = #"""
import base64, hashlib, json, os, sys, tempfile
inp, out, encdir = sys.argv[1], sys.argv[2], sys.argv[3]
cache = tempfile.mkdtemp()
for name in ("cl100k_base", "o200k_base"):
    url = "https://openaipublic.blob.core.windows.net/encodings/%s.tiktoken" % name
    os.symlink(os.path.join(encdir, name + ".tiktoken"), os.path.join(cache, hashlib.sha1(url.encode()).hexdigest()))
os.environ["TIKTOKEN_CACHE_DIR"] = cache
import tiktoken
req = json.load(open(inp))
enc = tiktoken.get_encoding(req["encoding"])
res = []
for item in req["items"]:
    text = base64.b64decode(item).decode("utf-8", errors="replace")
    if req["mode"] == "ordinary":
        res.append(enc.encode_ordinary(text))
    else:
        res.append(enc.encode(text, allowed_special="all"))
json.dump(res, open(out, "w"))
"""#

    /// tiktoken's ids for each input (raw bytes decoded with `errors="replace"`).
    static func encode(_ name: EncodingName, _ inputs: [[UInt8]], allowAllSpecial: Bool = false) throws -> [[Int]] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-tiktoken-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let inURL = dir.appendingPathComponent("in.json"), outURL = dir.appendingPathComponent("out.json")
        let req: [String: Any] = [
            "encoding": name.rawValue, "mode": allowAllSpecial ? "all" : "ordinary",
            "items": inputs.map { Data($0).base64EncodedString() },
        ]
        try JSONSerialization.data(withJSONObject: req).write(to: inURL)
        let status = try run(["-c", script, inURL.path, outURL.path, TestData.encodings.path])
        guard status == 0 else { throw TiktokenFailed(status: status) }
        guard let ids = try JSONSerialization.jsonObject(with: Data(contentsOf: outURL)) as? [[Int]] else {
            throw TiktokenFailed(status: -1)
        }
        return ids
    }

    struct TiktokenFailed: Error { let status: Int32 }
}

/// Deterministic random numbers for fuzzing and generated inputs.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A stable digest of a token-id list, for the committed fixtures.
func idsDigest(_ ids: [Int]) -> String {
    SHA256.hexDigest(Array(ids.map(String.init).joined(separator: ",").utf8))
}

/// The first `limit` bytes of `bytes`, cut back to a UTF-8 character boundary.
func utf8Prefix(_ bytes: [UInt8], _ limit: Int) -> [UInt8] {
    guard bytes.count > limit else { return bytes }
    var end = limit
    while end > 0 && bytes[end] & 0xC0 == 0x80 { end -= 1 }
    return Array(bytes[..<end])
}
