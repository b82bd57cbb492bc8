// tollgate-bench-policyxml: reads and canonicalizes every policy file of a corpus in-process, then
// runs `xmllint --noout` once per file, and reports both times and their ratio from the same run.
//
//     swift build -c release --product tollgate-bench-policyxml
//     .build/release/tollgate-bench-policyxml [--corpus DIR] [--passes N] [--no-xmllint]

import Foundation
import PolicyXML

struct Options {
    var corpus = "../shared/corpus"
    var passes = 5
    var runXMLLint = true

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--corpus": corpus = iterator.next() ?? corpus
            case "--passes": passes = max(1, Int(iterator.next() ?? "") ?? passes)
            case "--no-xmllint": runXMLLint = false
            default:
                print("usage: tollgate-bench-policyxml [--corpus DIR] [--passes N] [--no-xmllint]")
                exit(argument == "--help" || argument == "-h" ? 0 : 2)
            }
        }
    }
}

func corpusFiles(_ folder: String) -> [(path: String, bytes: [UInt8])] {
    let root = URL(fileURLWithPath: folder)
    guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else {
        return []
    }
    var files: [(String, [UInt8])] = []
    while let url = enumerator.nextObject() as? URL {
        guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true,
            url.lastPathComponent != "MANIFEST.tsv", let data = FileManager.default.contents(atPath: url.path)
        else { continue }
        files.append((url.path, [UInt8](data)))
    }
    return files.sorted { $0.0 < $1.0 }
}

func findExecutable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for folder in path.split(separator: ":") {
        let candidate = "\(folder)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func format(_ value: Double) -> String {
    String(format: "%.1f ms", value * 1000)
}

let options = Options(CommandLine.arguments)
let files = corpusFiles(options.corpus)
guard !files.isEmpty else {
    print("no files under \(options.corpus) (use --corpus DIR)")
    exit(2)
}
let totalBytes = files.reduce(0) { $0 + $1.bytes.count }
let clock = ContinuousClock()

// In-process: read (expression scan + libxml2 + tree), canonicalize, write the canonical text.
var read = 0
var rejected = 0
var canonicalBytes = 0
var best = Double.infinity
var total = 0.0
for pass in 0..<options.passes {
    let start = clock.now
    for (path, bytes) in files {
        do {
            let root = try PolicyReader.parse(bytes, path: path)
            canonicalBytes &+= Canonicalizer.canonicalText(root).utf8.count
            if pass == 0 { read += 1 }
        } catch {
            if pass == 0 { rejected += 1 }
        }
    }
    let elapsed = seconds(clock.now - start)
    best = min(best, elapsed)
    total += elapsed
}

// The same, split: reading alone (scanner + libxml2 + tree).
var readOnly = Double.infinity
for _ in 0..<options.passes {
    let start = clock.now
    for (path, bytes) in files { _ = try? PolicyReader.parse(bytes, path: path) }
    readOnly = min(readOnly, seconds(clock.now - start))
}

print("corpus: \(files.count) files, \(totalBytes) bytes (\(options.corpus))")
print("in-process read + canonicalize: best \(format(best)), mean \(format(total / Double(options.passes))) per pass over \(options.passes) passes")
print("  \(read) read, \(rejected) rejected with an error; \(String(format: "%.1f", Double(totalBytes) / best / 1_000_000)) MB/s; \(String(format: "%.1f", best / Double(files.count) * 1_000_000)) µs per file")

print("  of which reading alone: best \(format(readOnly)) per pass")

guard options.runXMLLint else { exit(0) }
guard let xmllint = findExecutable("xmllint") else {
    print("xmllint not found (Debian: apt-get install libxml2-utils); no ratio")
    exit(0)
}
let lintStart = clock.now
var lintFailures = 0
for (path, _) in files {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: xmllint)
    process.arguments = ["--noout", path]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    do {
        try process.run()
        process.waitUntilExit()
        if process.terminationStatus != 0 { lintFailures += 1 }
    } catch {
        lintFailures += 1
    }
}
let lint = seconds(clock.now - lintStart)
print("xmllint --noout, one process per file: \(format(lint)) (\(files.count - lintFailures) well-formed, \(lintFailures) rejected: raw-format expressions are not XML)")
print(String(format: "ratio: in-process is %.1fx faster than xmllint per file (%.1f ms vs %.1f ms per pass)", lint / best, best * 1000, lint * 1000))
