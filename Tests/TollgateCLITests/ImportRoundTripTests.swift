import Foundation
import GatewayModel
import PolicyCompiler
import PolicyXML
import Testing
@testable import ImportedExample
@testable import TollgateCLI

/// Import then build reproduces real policy files: every readable corpus file, semantically.
@Suite struct ImportRoundTripTests {
    static var corpus: URL? {
        let url = ExampleGatewayTests.packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus")
        if FileManager.default.fileExists(atPath: url.path) { return url }
        if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("missing \(url.path) under CI") }
        return nil
    }

    /// Imports one file, builds the declared document, and returns the semantic differences and the
    /// comments of both (those between the sections of `<policies>` excepted, which the model cannot hold).
    static func roundTrip(_ entry: PolicyFileSet.Entry) throws
        -> (original: XMLElement, changes: [PolicyChange], comments: (original: [String], rebuilt: [String]))
    {
        let declaration = try ImportCommand.importFile(entry)
        let gateway = Gateway(name: "imported", service: APIMService(name: "apim", existing: true), policyDocuments: [declaration])
        let output = GatewayCompiler().compile(gateway)
        let generated = try #require(output.files["policies/" + declaration.path])
        let original = try PolicyReader.parseDocument(Array(FileManager.default.contents(atPath: entry.path)!), path: entry.path)
        let rebuilt = try PolicyReader.parseDocument(Array(generated.utf8), path: declaration.path)
        return (
            original.root, SemanticDiff.compare(original.root, rebuilt.root),
            (original.leadingComments + comments(in: original.root), rebuilt.leadingComments + comments(in: rebuilt.root)))
    }

    /// Every comment below `element` in document order, skipping those directly inside `<policies>`.
    static func comments(in element: XMLElement) -> [String] {
        element.children.flatMap { child -> [String] in
            switch child {
            case .comment(let text): element.name == "policies" ? [] : [text]
            case .element(let child): comments(in: child)
            default: []
            }
        }
    }

    @Test func everyReadableCorpusFileRoundTrips() throws {
        guard let corpus = Self.corpus else { return }
        let set = PolicyFileSet([corpus.path])
        #expect(set.entries.count > 250)
        var roundTripped = 0, unreadable: [String] = [], keptComments = 0
        for entry in set.entries {
            guard (try? PolicyReader.parse(Array(FileManager.default.contents(atPath: entry.path)!), path: entry.path)) != nil else {
                unreadable.append(entry.relative)
                continue
            }
            let (_, changes, comments) = try Self.roundTrip(entry)
            #expect(changes.isEmpty, "\(entry.relative): \(changes.prefix(3))")
            #expect(comments.original == comments.rebuilt, "\(entry.relative): comments differ")
            if changes.isEmpty { roundTripped += 1 }
            keptComments += comments.rebuilt.count
        }
        // 125 corpus files carry comments (843 outside the section lists); they survive import → build byte for byte.
        #expect(keptComments >= 800, "\(keptComments) comments kept")
        // The reader's own corpus test names the unreadable (genuinely broken) files and their lines.
        #expect(unreadable.count < 10, "\(unreadable)")
        #expect(roundTripped + unreadable.count == set.entries.count)
    }

    @Test func printedSourceUsesTypedCallsAndEscapesLiterals() throws {
        let xml = """
            <policies>
                <inbound>
                    <base />
                    <set-header name="x-a" exists-action="append"><value>@(context.Request.Headers.GetValueOrDefault("a", "\\\\"))</value></set-header>
                    <include-fragment fragment-id="shared" />
                    <set-body template="liquid">{"line":"{{body.x}}"}
            second line</set-body>
                </inbound>
                <on-error />
            </policies>
            """
        let root = try PolicyReader.parse(Array(xml.utf8), path: "p.xml")
        let declaration = try PolicyImporter.declaration(for: root, path: "imported/p.xml", scope: .api)
        let source = DSLSourcePrinter.gatewaySource(name: "my-gateway", service: "apim-x", documents: [declaration], sources: ["p.xml"])
        #expect(source.contains(#"let myGateway = Gateway("my-gateway", service: .existing("apim-x")) {"#))
        #expect(source.contains(#"Document("imported/p.xml", scope: "api") {"#))
        #expect(source.contains("Base()"))
        #expect(source.contains(##"SetHeader("x-a", #"@(context.Request.Headers.GetValueOrDefault("a", "\\"))"#, action: .append)"##))
        #expect(source.contains(#"IncludeFragment("shared")"#))
        #expect(source.contains("OnError {}"))
        #expect(source.contains("#\"\"\"\n{\"line\":\"{{body.x}}\"}\nsecond line\n\"\"\"#"))
    }

    @Test func literalsChooseEnoughHashes() {
        #expect(literal("plain") == "\"plain\"")
        #expect(literal("a\"b") == "#\"a\"b\"#")
        #expect(literal("a\"#b") == "##\"a\"#b\"##")
        #expect(swiftIdentifier("contoso-ai gateway") == "contosoAiGateway")
        #expect(swiftIdentifier("1st") == "gateway1st")
    }
}

/// The committed `Examples/ImportedExample` was written by `tollgate import`: it compiles, stays what
/// import prints today, and builds back to the original corpus files.
@Suite struct ImportedExampleTests {
    static let originals = [
        "Azure__api-management-policy-snippets/examples/Back-end API redundancy.policy.xml",
        "Azure__api-management-policy-snippets/examples/List all inbound headers.policy.xml",
        "Azure-Samples__ai-hub-gateway-solution-accelerator/infra/modules/apim/policies/frag-aad-auth.xml",
        "Azure-Samples__AI-Gateway/labs/token-rate-limiting/policy.xml",
    ]

    @Test func compiledExampleReproducesTheOriginals() throws {
        guard let corpus = ImportRoundTripTests.corpus else { return }
        let output = GatewayCompiler().compile(importedExample)
        #expect(output.diagnostics.filter { $0.id == "TG1000" }.isEmpty)
        let declared = importedExample.policyDocuments.map { "policies/" + $0.path }
        #expect(declared.count == Self.originals.count)
        for (original, path) in zip(Self.originals, declared) {
            let originalRoot = try PolicyReader.parse(Array(FileManager.default.contents(atPath: corpus.appendingPathComponent(original).path)!), path: original)
            let rebuilt = try PolicyReader.parse(Array(try #require(output.files[path]).utf8), path: path)
            #expect(SemanticDiff.compare(originalRoot, rebuilt).isEmpty, "\(path)")
        }
    }

    @Test func committedSourceIsWhatImportPrints() throws {
        guard let corpus = ImportRoundTripTests.corpus else { return }
        let entries = Self.originals.map { original in
            PolicyFileSet.Entry(path: corpus.appendingPathComponent(original).path, relative: (original as NSString).lastPathComponent)
        }
        let documents = try entries.map(ImportCommand.importFile)
        let fresh = DSLSourcePrinter.gatewaySource(name: "imported-example", service: "apim", documents: documents, sources: entries.map(\.path))
        let committed = try String(
            contentsOf: ExampleGatewayTests.packageRoot.appendingPathComponent("Examples/ImportedExample/ImportedGateway.swift"), encoding: .utf8)
        let body = { (text: String) in text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("//") } }
        #expect(body(fresh) == body(committed))
    }
}
