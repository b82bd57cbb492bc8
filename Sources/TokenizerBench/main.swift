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
var swiftMBs: [EncodingName: (count: Double, encode: Double)] = [:]
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
    var countTimes: [Double] = []
    var encodeTimes: [Double] = []
    var sink = 0
    for _ in 0..<runs {
        var t0 = now()
        for f in files { sink &+= enc.count(f.text) }
        countTimes.append(now() - t0)
        t0 = now()
        for f in files { sink &+= enc.encodeOrdinary(f.text).count }
        encodeTimes.append(now() - t0)
    }
    if sink == 42 { print("") }
    let mb = Double(totalBytes) / 1e6
    swiftMBs[enc.name] = (mb / median(countTimes), mb / median(encodeTimes))
}

// 4. tiktoken in the same run.
let tiktokenScript = #"""
import hashlib, json, os, sys, tempfile, time
import tiktoken, tiktoken.load
corpus, encdir, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
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
    for _ in range(3):
        import importlib
        from tiktoken_ext import openai_public
        t0 = time.perf_counter()
        ctor = openai_public.ENCODING_CONSTRUCTORS[name]()
        enc = tiktoken.Encoding(ctor["name"], pat_str=ctor["pat_str"], mergeable_ranks=ctor["mergeable_ranks"], special_tokens=ctor["special_tokens"])
        enc.encode_ordinary("warm up")
        loads.append(time.perf_counter() - t0)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for f in files:
            enc.encode_ordinary(f)
        times.append(time.perf_counter() - t0)
    times.sort(); loads.sort()
    out[name] = {"mbs": total / 1e6 / times[len(times) // 2], "load": loads[1]}
print(json.dumps(out))
"""#
var tiktoken: [String: Any]? = nil
if useTiktoken {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [python, "-c", tiktokenScript, corpusDir.path, encodingsDir.path, String(runs)]
    let pipe = Pipe()
    p.standardOutput = pipe
    do {
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        if p.terminationStatus == 0 {
            tiktoken = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        } else {
            print("note: tiktoken run failed (pip install tiktoken); reporting Swift numbers only")
        }
    } catch {
        print("note: cannot run \(python): \(error)")
    }
}

// 5. Report.
print("corpus: \(files.count) files, \(String(format: "%.1f", Double(totalBytes) / 1e6)) MB; median of \(runs) runs, single thread")
if let v = tiktoken?["version"] as? String { print("tiktoken \(v) via \(python) (encode_ordinary)") }
print("counts vs expected.tsv: \(mismatches == 0 ? "all \(expected.count) match" : "\(mismatches) MISMATCHES")")
print("")
print("encoding     | swift count MB/s | swift encode MB/s | tiktoken MB/s | ratio (encode) | swift load s | tiktoken load s")
for name in EncodingName.allCases {
    let s = swiftMBs[name]!
    let t = tiktoken?[name.rawValue] as? [String: Double]
    let tm = t?["mbs"] ?? .nan
    let tl = t?["load"] ?? .nan
    print(String(format: "%-12@ | %16.1f | %17.1f | %13.1f | %13.2fx | %12.3f | %15.3f",
                 name.rawValue, s.count, s.encode, tm, s.encode / tm, loadTimes[name]!, tl))
}
print(String(format: "peak RSS after loading both encodings (VmHWM): %.1f MB (%.1f MB before loading)", peakRSS, rssBefore))
exit(mismatches == 0 ? 0 : 1)
