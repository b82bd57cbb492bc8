import Foundation
import Testing
@testable import Tokenizer

@Suite("Unicode 16 class table")
struct UnicodeTableTests {
    @Test("spot checks: Unicode 16 classes, not the runtime's Unicode 17")
    func spotChecks() {
        func f(_ v: UInt32) -> UInt8 { CharClass.of(v) }
        #expect(f(0x41) == CharClass.letter | CharClass.upperish)           // A: Lu
        #expect(f(0x17F) == CharClass.letter | CharClass.lowerish)          // ſ: Ll
        #expect(f(0x1C5) == CharClass.letter | CharClass.upperish)          // ǅ: Lt
        #expect(f(0x2B0) == CharClass.letter | CharClass.upperish | CharClass.lowerish)  // ʰ: Lm
        #expect(f(0x4E2D) == CharClass.letter | CharClass.upperish | CharClass.lowerish) // 中: Lo
        #expect(f(0x301) == CharClass.mark | CharClass.upperish | CharClass.lowerish)    // combining acute
        #expect(f(0x660) == CharClass.number)                                // Arabic-Indic zero
        #expect(f(0x85) == CharClass.space)
        #expect(f(0x3000) == CharClass.space)
        #expect(f(0x1C) == 0)                                                // not White_Space
        #expect(f(0x200B) == 0)                                              // ZWSP is not White_Space
        #expect(f(0x1E6C0) == 0)                                             // new in Unicode 17
        #expect(f(0x88F) == 0)                                               // new in Unicode 17
        #expect(Unicode.Scalar(0x1E6C0)!.properties.generalCategory != .unassigned)  // the runtime disagrees
    }

    @Test("the committed table is what the generator produces (needs unicodedata2==16.0.0)")
    func regenerate() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [Tiktoken.python, "-c", "import unicodedata2, sys; sys.exit(0 if unicodedata2.unidata_version == '16.0.0' else 1)"]
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return }  // generator's dependency not installed: nothing to compare
        let gen = Process()
        gen.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        gen.arguments = [Tiktoken.python, TestData.packageRoot.appendingPathComponent("scripts/generate_unicode_tables.py").path]
        let pipe = Pipe()
        gen.standardOutput = pipe
        try gen.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        gen.waitUntilExit()
        let committed = try Data(contentsOf: TestData.packageRoot.appendingPathComponent("Sources/Tokenizer/UnicodeTables.swift"))
        #expect(gen.terminationStatus == 0)
        #expect(out == committed)
    }
}
