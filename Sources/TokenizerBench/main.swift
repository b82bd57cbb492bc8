// tollgate-bench-tokenizer: single-thread encode throughput, load time and
// peak memory of the Swift tokenizer, side by side with tiktoken (run through
// python3 in the same invocation when it is installed).
//
//   swift run -c release tollgate-bench-tokenizer [--corpus DIR] [--encodings DIR]
//       [--runs N] [--no-tiktoken] [--python PYTHON]
import Foundation
import Tokenizer

let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

var corpusDir = packageRoot.appendingPathComponent("../shared/tokenizer-bench/corpus").standardizedFileURL
var encodingsDir = packageRoot.appendingPathComponent("../shared/encodings").standardizedFileURL
var runs = 5
var useTiktoken = true
var python = "python3"
var perFile = false
var only: String? = nil
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--corpus": corpusDir = URL(fileURLWithPath: args.next() ?? ".")
    case "--encodings": encodingsDir = URL(fileURLWithPath: args.next() ?? ".")
    case "--runs": runs = Int(args.next() ?? "5") ?? 5
    case "--no-tiktoken": useTiktoken = false
    case "--python": python = args.next() ?? "python3"
    case "--per-file": perFile = true
    case "--only": only = args.next()
    default:
        FileHandle.standardError.write(Data("usage: tollgate-bench-tokenizer [--corpus DIR] [--encodings DIR] [--runs N] [--no-tiktoken] [--python PYTHON]\n".utf8))
        exit(2)
    }
}
if let env = ProcessInfo.processInfo.environment["TOLLGATE_ENCODINGS_DIR"], !CommandLine.arguments.contains("--encodings") {
    encodingsDir = URL(fileURLWithPath: env)
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? 0 : s[s.count / 2]
}

func vmHWMMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? -1
        return kb / 1024
    }
    return -1
}

// 1. Load time (first load, then the median of a few more) and peak RSS with both loaded.
let rssBefore = vmHWMMegabytes()
var encodings: [Encoding] = []
var loadTimes: [EncodingName: Double] = [:]
for name in EncodingName.allCases {
    let t0 = now()
    let enc = try Encoding.load(name, directory: encodingsDir)
    loadTimes[name] = now() - t0
    encodings.append(enc)
}
let peakRSS = vmHWMMegabytes()
for name in EncodingName.allCases {
    var times = [loadTimes[name]!]
    for _ in 0..<2 {
        let t0 = now()
        _ = try Encoding.load(name, directory: encodingsDir)
        times.append(now() - t0)
    }
    loadTimes[name] = median(times)
}

// 2. Corpus.
let manifest = try String(contentsOf: corpusDir.appendingPathComponent("MANIFEST.tsv"), encoding: .utf8)
var files: [(name: String, text: String, bytes: Int)] = []
for line in manifest.split(separator: "\n").dropFirst() {
    let cols = line.split(separator: "\t", omittingEmptySubsequences: false)
    guard cols.count > 2 else { continue }
    let name = String(cols[0]) + "/" + String(cols[1])
    if let only, !name.contains(only) { continue }
    let data = try Data(contentsOf: corpusDir.appendingPathComponent(name))
    files.append((name, String(decoding: data, as: UTF8.self), data.count))
}
let totalBytes = files.reduce(0) { $0 + $1.bytes }
var expected: [String: Int] = [:]
if let tsv = try? String(contentsOf: corpusDir.deletingLastPathComponent().appendingPathComponent("expected.tsv"), encoding: .utf8) {
    for line in tsv.split(separator: "\n") {
        let c = line.split(separator: "\t")
        if c.count == 3, let n = Int(c[2]) { expected[c[0] + "\t" + c[1]] = n }
    }
}

// 3. Swift throughput (count path and encode path), checking counts.
var swiftRuns: [EncodingName: [(count: Double, encode: Double)]] = [:]
var mismatches = 0
for enc in encodings {
    for f in files {
        let n = enc.count(f.text)
        if let e = expected[f.name + "\t" + enc.name.rawValue], e != n {
            mismatches += 1
            print("MISMATCH \(enc.name.rawValue) \(f.name): \(n) expected \(e)")
        }
    }
    if perFile {
        for f in files where f.bytes > 100_000 || only != nil {
            var dt = Double.infinity
            var n = 0
            for _ in 0..<runs {
                let t0 = now()
                n = enc.count(f.text)
                dt = min(dt, now() - t0)
            }
            print(String(format: "%@ %@ %8.1f MB/s  %.1f bytes/token", enc.name.rawValue, f.name, Double(f.bytes) / 1e6 / dt, Double(f.bytes) / Double(n)))
        }
    }
}

/// One timed pass of the Swift tokenizer over the corpus: (count MB/s, encode MB/s).
@MainActor func swiftPass(_ enc: Encoding) -> (count: Double, encode: Double) {
    let mb = Double(totalBytes) / 1e6
    var sink = 0
    var t0 = now()
    for f in files { sink &+= enc.count(f.text) }
    let countTime = now() - t0
    t0 = now()
    for f in files { sink &+= enc.encodeOrdinary(f.text).count }
    let encodeTime = now() - t0
    if sink == 42 { print("") }
    return (mb / countTime, mb / encodeTime)
}

// 4. tiktoken in the same run.
let tiktokenScript = #"""
import hashlib, json, os, sys, tempfile, time
import tiktoken, tiktoken.load
corpus, encdir = sys.argv[1], sys.argv[2]
cache = tempfile.mkdtemp()
for name in ("cl100k_base", "o200k_base"):
    url = "https://openaipublic.blob.core.windows.net/encodings/%s.tiktoken" % name
    os.symlink(os.path.join(encdir, name + ".tiktoken"), os.path.join(cache, hashlib.sha1(url.encode()).hexdigest()))
os.environ["TIKTOKEN_CACHE_DIR"] = cache
files = []
for line in open(os.path.join(corpus, "MANIFEST.tsv"), encoding="utf-8").read().splitlines()[1:]:
    cols = line.split("\t")
    name = cols[0] + "/" + cols[1]
    files.append(open(os.path.join(corpus, name), "rb").read().decode("utf-8", errors="replace"))
total = sum(len(f.encode("utf-8")) for f in files)
out = {"version": tiktoken.__version__}
for name in ("cl100k_base", "o200k_base"):
    loads = []
    for _ in range(2):
        import importlib
        from tiktoken_ext import openai_public
        t0 = time.perf_counter()
        ctor = openai_public.ENCODING_CONSTRUCTORS[name]()
        enc = tiktoken.Encoding(ctor["name"], pat_str=ctor["pat_str"], mergeable_ranks=ctor["mergeable_ranks"], special_tokens=ctor["special_tokens"])
        enc.encode_ordinary("warm up")
        loads.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    for f in files:
        enc.encode_ordinary(f)
    dt = time.perf_counter() - t0
    out[name] = {"mbs": total / 1e6 / dt, "load": min(loads)}
print(json.dumps(out))
"""#
/// One tiktoken pass (a python3 subprocess): per encoding, MB/s and load seconds.
@MainActor func tiktokenPass() -> [String: Any]? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [python, "-c", tiktokenScript, corpusDir.path, encodingsDir.path]
    let pipe = Pipe()
    p.standardOutput = pipe
    do {
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        if p.terminationStatus == 0 {
            return try JSONSerialization.jsonObject(with: data) as? [String: Any]
        }
        print("note: tiktoken run failed (pip install tiktoken); reporting Swift numbers only")
    } catch {
        print("note: cannot run \(python): \(error)")
    }
    return nil
}

// Interleave Swift and tiktoken passes so both see the same machine load; report
// the best pass of each (the least disturbed) and the median.
var tiktokenRuns: [[String: Any]] = []
var tiktokenVersion: String?
for _ in 0..<runs {
    for enc in encodings { swiftRuns[enc.name, default: []].append(swiftPass(enc)) }
    if useTiktoken, let t = tiktokenPass() {
        tiktokenRuns.append(t)
        tiktokenVersion = t["version"] as? String
    } else {
        useTiktoken = false
    }
}

// 5. Report.
print("corpus: \(files.count) files, \(String(format: "%.1f", Double(totalBytes) / 1e6)) MB; \(runs) interleaved passes, single thread; best (median)")
if let v = tiktokenVersion { print("tiktoken \(v) via \(python) (encode_ordinary)") }
print("counts vs expected.tsv: \(mismatches == 0 ? "all \(expected.count) match" : "\(mismatches) MISMATCHES")")
print("")
func cell(_ xs: [Double]) -> String {
    xs.isEmpty ? "n/a" : String(format: "%.1f (%.1f)", xs.max()!, median(xs))
}
func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
print("encoding    | swift count MB/s | swift encode MB/s | tiktoken MB/s | encode ratio | count ratio | load s swift / tiktoken")
for name in EncodingName.allCases {
    let s = swiftRuns[name] ?? []
    let t = tiktokenRuns.compactMap { ($0[name.rawValue] as? [String: Double])?["mbs"] }
    let tl = tiktokenRuns.compactMap { ($0[name.rawValue] as? [String: Double])?["load"] }.min()
    let ratio = t.isEmpty ? "n/a" : String(format: "%.2fx", s.map(\.encode).max()! / t.max()!)
    let cratio = t.isEmpty ? "n/a" : String(format: "%.2fx", s.map(\.count).max()! / t.max()!)
    print([pad(name.rawValue, 11), pad(cell(s.map(\.count)), 16), pad(cell(s.map(\.encode)), 17), pad(cell(t), 13),
           pad(ratio, 12), pad(cratio, 11),
           String(format: "%.3f / %@", loadTimes[name]!, tl.map { String(format: "%.3f", $0) } ?? "n/a")].joined(separator: " | "))
}
print(String(format: "peak RSS after loading both encodings (VmHWM): %.1f MB (%.1f MB before loading)", peakRSS, rssBefore))
exit(mismatches == 0 ? 0 : 1)
