import Foundation
import Testing

@testable import PolicyXML

/// Random mutations of corpus files: the reader must never crash or hang, errors must be located
/// inside the file, and anything it accepts must survive a write/read round trip unchanged.
@Suite struct FuzzTests {
    private static let tokens: [String] = [
        "<", ">", "\"", "'", "@(", "@{", ")", "}", "{", "(", "[", "]", "<!--", "-->", "<![CDATA[", "]]>", "&", "&amp;",
        "&#10;", "&bogus;", "</x>", "<x>", "<x/>", "$\"", "@\"", "$@\"", "//", "/*", "*/", "\n", "\r\n", "{{nv}}", "{{",
        "}}", "<!DOCTYPE x>", "<?pi x?>", "=", " a=\"1\"", "\u{E000}", "é", "\\", "--",
    ]

    @Test func mutatedCorpusFilesNeverCrashOrHang() throws {
        let files = Corpus.files().map(\.bytes)
        if files.isEmpty {
            if Corpus.isRequired { Issue.record("../shared/corpus is missing (CI=true)") }
            return
        }
        let iterations = Int(ProcessInfo.processInfo.environment["TOLLGATE_FUZZ_ITERATIONS"] ?? "") ?? 2000
        var random = SplitMix64(seed: UInt64(ProcessInfo.processInfo.environment["TOLLGATE_FUZZ_SEED"] ?? "") ?? 20261122)
        var accepted = 0
        var rejected = 0
        let clock = ContinuousClock()
        for iteration in 0..<iterations {
            var bytes = files[Int(random.next() % UInt64(files.count))]
            for _ in 0...(random.next() % 3) { mutate(&bytes, &random) }
            let started = clock.now
            let path = "fuzz-\(iteration).xml"
            do {
                let file = try PolicyReader.parseDocument(bytes, path: path)
                accepted += 1
                for format in XMLWriter.Format.allCases {
                    let written = PolicyFormatter.format(file, as: format)
                    do {
                        let again = try PolicyReader.parseDocument(Array(written.utf8), path: path)
                        let changes = SemanticDiff.compare(file.root, again.root)
                        #expect(changes.isEmpty, "iteration \(iteration) (\(format)): \(changes)")
                        if !changes.isEmpty, let folder = ProcessInfo.processInfo.environment["TOLLGATE_FUZZ_DUMP"] {
                            _ = FileManager.default.createFile(atPath: "\(folder)/\(path)", contents: Data(bytes))
                        }
                    } catch {
                        if let folder = ProcessInfo.processInfo.environment["TOLLGATE_FUZZ_DUMP"] {
                            _ = FileManager.default.createFile(atPath: "\(folder)/\(path)", contents: Data(bytes))
                        }
                        Issue.record("iteration \(iteration): accepted input wrote unreadable \(format) output: \(error)")
                    }
                }
            } catch {
                rejected += 1
                let lineCount = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).count
                #expect(error.line >= 1 && error.line <= lineCount, "iteration \(iteration): \(error)")
                #expect(error.column >= 1, "iteration \(iteration): \(error)")
                #expect(!error.message.contains("internal error"), "iteration \(iteration): \(error)")
            }
            let elapsed = clock.now - started
            #expect(elapsed < .seconds(2), "iteration \(iteration) took \(elapsed)")
        }
        print("fuzz: \(iterations) mutated files, \(accepted) accepted and round-tripped, \(rejected) rejected with a located error")
    }

    private func mutate(_ bytes: inout [UInt8], _ random: inout SplitMix64) {
        let position = bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count + 1))
        switch random.next() % 6 {
        case 0 where !bytes.isEmpty:
            bytes[min(position, bytes.count - 1)] = UInt8(truncatingIfNeeded: random.next())
        case 1 where !bytes.isEmpty:
            let length = Int(random.next() % 40) + 1
            bytes.removeSubrange(position..<min(bytes.count, position + length))
        case 2 where !bytes.isEmpty:
            let start = Int(random.next() % UInt64(bytes.count))
            let length = Int(random.next() % 200) + 1
            let slice = bytes[start..<min(bytes.count, start + length)]
            bytes.insert(contentsOf: slice, at: position)
        case 3:
            bytes = Array(bytes.prefix(position))
        default:
            let token = Self.tokens[Int(random.next() % UInt64(Self.tokens.count))]
            bytes.insert(contentsOf: Array(token.utf8), at: position)
        }
    }
}
