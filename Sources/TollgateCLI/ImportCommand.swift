import ArgumentParser
import Foundation
import GatewayModel
import PolicyCompiler
import PolicyXML

/// `tollgate import PATH… --out DIR`: existing policy files → Swift DSL source.
public struct ImportCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Turn existing policy XML files into a Tollgate gateway written in Swift.",
        discussion: """
            Each file becomes a Document (or FragmentDocument) declaration whose policies use typed DSL \
            calls where the model has a type that reproduces the element exactly (Base, IncludeFragment, \
            SetHeader, When, RetryOn) and CustomPolicy otherwise. Building the result writes the files \
            again under policies/imported/<relative path>; `tollgate diff` against the originals exits 0. \
            Comments are kept (Comment(…), leadingComments:) except those between the sections of <policies>.

            Writes DIR/ImportedGateway.swift (the gateway declaration) and, when it does not exist yet, \
            DIR/main.swift calling TollgateCLI.main — together an executable target (or prints the \
            declaration with --stdout). Exit status: 0 imported, 1 some files could not be read or \
            imported, 2 usage error.
            """
    )

    @Argument(help: "Policy files or folders (folders are searched for *.xml).")
    public var paths: [String]

    @Option(help: "Folder for ImportedGateway.swift.")
    public var out: String?

    @Flag(help: "Print the Swift source instead of writing it.")
    public var stdout = false

    @Option(help: "Gateway name in the generated source.")
    public var name = "imported"

    @Option(help: "Name of the existing APIM service the gateway refers to.")
    public var service = "apim"

    public init() {}

    public func validate() throws {
        if out == nil && !stdout { throw ValidationError("give --out DIR or --stdout") }
    }

    public func run() throws {
        let set = PolicyFileSet(paths)
        var failed = false
        for problem in set.problems {
            FileHandle.standardError.write(Data("error: \(problem)\n".utf8))
            failed = true
        }
        var documents: [PolicyDocumentDeclaration] = []
        var sources: [String] = []
        for entry in set.entries {
            do {
                documents.append(try Self.importFile(entry))
                sources.append(entry.path)
            } catch {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                failed = true
            }
        }
        let source = DSLSourcePrinter.gatewaySource(name: name, service: service, documents: documents, sources: sources)
        if stdout {
            print(source, terminator: "")
        } else if let out {
            let url = URL(fileURLWithPath: out).appendingPathComponent("ImportedGateway.swift")
            let main = URL(fileURLWithPath: out).appendingPathComponent("main.swift")
            do {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                try Data(source.utf8).write(to: url, options: .atomic)
                if !FileManager.default.fileExists(atPath: main.path) {
                    let entry = "import TollgateCLI\n\nawait TollgateCLI.main(\(swiftIdentifier(name)))\n"
                    try Data(entry.utf8).write(to: main, options: .atomic)
                }
            } catch {
                FileHandle.standardError.write(Data("error: cannot write \(url.path): \(error.localizedDescription)\n".utf8))
                throw ExitStatus.failure
            }
            FileHandle.standardError.write(Data("imported \(documents.count) of \(set.entries.count) file(s) into \(url.path)\n".utf8))
        }
        if failed { throw ExitStatus.findings }
    }

    /// One file as a declaration emitted at `policies/imported/<relative path>`.
    static func importFile(_ entry: PolicyFileSet.Entry) throws -> PolicyDocumentDeclaration {
        guard let data = FileManager.default.contents(atPath: entry.path) else {
            throw PolicyImporter.ImportError(path: entry.path, message: "cannot read the file")
        }
        let document = try PolicyReader.parseDocument(Array(data), path: entry.path)
        var relative = entry.relative
        if !relative.lowercased().hasSuffix(".xml") { relative += ".xml" }
        // Keep paths usable as file names in any shell and as Swift string literals.
        relative = String(relative.map { $0 == " " ? "-" : $0 })
        return try PolicyImporter.declaration(
            for: document.root, path: "imported/" + relative, scope: ValidateCommand.inferScope(entry.path),
            leadingComments: document.leadingComments)
    }
}
