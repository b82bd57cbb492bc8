import Foundation
import Testing

@testable import PolicyXML

@Suite struct CorpusTests {
    /// Every corpus file round-trips (read → write → read, semantically equal, expressions byte-identical),
    /// in both output formats, or is reported with a located error.
    @Test func everyFileRoundTripsOrIsReported() throws {
        let files = Corpus.files()
        if files.isEmpty {
            if Corpus.isRequired { Issue.record("../shared/corpus is missing (CI=true)") }
            return
        }
        var roundTripped = 0
        var reported: [String] = []
        for (path, bytes) in files {
            let document: PolicyFile
            do {
                document = try PolicyReader.parseDocument(bytes, path: path)
            } catch {
                let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
                #expect(error.file == path)
                #expect(error.line >= 1 && error.line <= lines.count, "\(error)")
                #expect(error.column >= 1, "\(error)")
                if error.line >= 1 && error.line <= lines.count {
                    // The error points at something: a column on a line that has text there.
                    let line = lines[error.line - 1]
                    #expect(error.column <= line.unicodeScalars.count + 1, "\(error)")
                    let blank = line.allSatisfy { $0.isWhitespace }
                    #expect(!blank, "\(error): points at a blank line")
                }
                #expect(!error.message.isEmpty)
                #expect(!error.message.contains("internal error"), "\(error)")
                reported.append(error.description)
                continue
            }
            for format in XMLWriter.Format.allCases {
                let written = XMLWriter(format: format).write(document.root)
                let again: PolicyFile
                do {
                    again = try PolicyReader.parseDocument(Array(written.utf8), path: path + " (\(format))")
                } catch {
                    Issue.record("\(path): writing as \(format) produced unreadable output: \(error)\n\(written)")
                    continue
                }
                let changes = SemanticDiff.compare(document.root, again.root)
                #expect(changes.isEmpty, "\(path) (\(format)): \(changes)")
                #expect(again.expressions.map(\.value) == document.expressions.map(\.value), "\(path) (\(format))")
                if format == .escaped {
                    #expect(again.sourceFormat == .escaped, "\(path): escaped output is not well-formed")
                }
                for expression in document.expressions where format == .raw {
                    #expect(written.contains(expression.value), "\(path): expression lost: \(expression.source)")
                }
            }
            // No silent loss: every expression of the source is somewhere in the tree.
            let treeText = XMLWriter(format: .raw).write(document.root)
            for expression in document.expressions {
                #expect(treeText.contains(expression.value), "\(path): \(expression.position) not in tree")
            }
            roundTripped += 1
        }
        print("corpus: \(files.count) files, \(roundTripped) round-trip, \(reported.count) reported")
        for line in reported { print("  " + line.replacingOccurrences(of: "\n", with: "\n  ")) }
        #expect(roundTripped + reported.count == files.count)
        // The corpus is mostly healthy; a reader that rejects much of it is broken.
        #expect(reported.count * 20 <= files.count, "too many files rejected")
    }

    /// `fmt` is idempotent on every readable corpus file and keeps comments and CDATA byte for byte.
    @Test func formatIsIdempotentAndKeepsComments() throws {
        for (path, bytes) in Corpus.files() {
            guard let document = try? PolicyReader.parseDocument(bytes, path: path) else { continue }
            let once = PolicyFormatter.format(document)
            let twiceDocument: PolicyFile
            do {
                twiceDocument = try PolicyReader.parseDocument(Array(once.utf8), path: path)
            } catch {
                Issue.record("\(path): formatted output unreadable: \(error)")
                continue
            }
            let twice = PolicyFormatter.format(twiceDocument)
            #expect(once == twice, "\(path): fmt is not idempotent\n\(UnifiedDiff.render(old: once, new: twice, oldName: "once", newName: "twice"))")
            #expect(twiceDocument.sourceFormat == document.sourceFormat, "\(path): fmt changed the file's format")
            #expect(SemanticDiff.compare(document.root, twiceDocument.root).isEmpty, "\(path)")
            let source = String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
            for expression in document.expressions {
                let written = expression.source.replacingOccurrences(of: "\r\n", with: "\n")
                #expect(once.contains(written), "\(path): expression at \(expression.position) not kept byte for byte")
            }
            for comment in comments(document.root) + document.leadingComments + document.trailingComments {
                #expect(once.contains("<!--\(comment)-->"), "\(path): comment changed")
                #expect(source.contains("<!--\(comment)-->"), "\(path): comment not byte-exact")
            }
        }
    }

    private func comments(_ element: XMLElement) -> [String] {
        element.children.flatMap { node -> [String] in
            switch node {
            case .comment(let text): [text]
            case .element(let child): comments(child)
            default: []
            }
        }
    }
}
