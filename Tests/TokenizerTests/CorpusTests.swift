import Foundation
import Testing
@testable import Tokenizer

/// Counts against tiktoken 0.14's ground truth in ../shared/tokenizer-bench/expected.tsv.
/// Debug builds check the files up to 320 KB; set TOLLGATE_TOKENIZER_FULL_CORPUS=1
/// (best with `swift test -c release`) for all 20 MB.
@Suite("Benchmark corpus counts", .enabled(if: TestData.benchPresent || TestData.isCI))
struct CorpusTests {
    @Test("counts equal expected.tsv", arguments: EncodingName.allCases)
    func counts(name: EncodingName) throws {
        let enc = try TestData.encoding(name)
        let tsv = try String(contentsOf: TestData.bench.appendingPathComponent("expected.tsv"), encoding: .utf8)
        var checked = 0
        for line in tsv.split(separator: "\n").dropFirst() {
            let c = line.split(separator: "\t")
            guard c.count == 3, c[1] == name.rawValue, let expected = Int(c[2]) else { continue }
            let url = TestData.bench.appendingPathComponent("corpus").appendingPathComponent(String(c[0]))
            let bytes = try TestData.read(url)
            if bytes.count > 320_000 && !TestData.fullCorpus { continue }
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(enc.count(text) == expected, "\(c[0])")
            #expect(enc.encodeOrdinary(text).count == expected, "\(c[0])")
            checked += 1
        }
        #expect(checked >= 33)
    }
}
