import ArgumentParser
import Diagnostics
import Foundation
import GatewayModel
import InfraEmitters
import PolicyCompiler
import PolicyXML

/// Options shared by `build` and `check`.
struct OutputOptions: ParsableArguments {
    @Option(name: .long, help: "Directory that holds policies/ and infrastructure/.")
    var out: String = "."

    @Option(name: .long, help: "Policy XML format: raw (APIM's export format, expressions unescaped) or escaped (well-formed XML).")
    var xml: XMLWriter.Format = .raw

    @Option(name: .long, help: "Diagnostics format: text or json.")
    var format: DiagnosticRenderer.Format = .text

    var root: URL { URL(fileURLWithPath: out, isDirectory: true) }

    /// Compiles the gateway and prints its diagnostics; throws exit 1 when there are errors.
    func compile(_ gateway: Gateway) throws -> GeneratedOutput {
        let (output, diagnostics) = GeneratedOutput.generate(gateway, xml: xml)
        if !diagnostics.isEmpty {
            FileHandle.standardError.write(Data(DiagnosticRenderer.render(diagnostics, format: format).utf8))
        }
        guard let output, !diagnostics.contains(where: { $0.severity == .error }) else { throw ExitStatus.findings }
        return output
    }

    /// Compiles the context's gateway and compares the result with the output directory.
    func generateAndCompare() throws -> (output: GeneratedOutput, changes: [GeneratedOutput.Change]) {
        let output = try compile(try GatewayContext.require())
        do {
            return (output, try output.changes(against: root))
        } catch {
            FileHandle.standardError.write(Data("error: cannot read \(out): \(error.localizedDescription)\n".utf8))
            throw ExitStatus.failure
        }
    }
}

extension XMLWriter.Format: ExpressibleByArgument {}
extension DiagnosticRenderer.Format: ExpressibleByArgument {}

/// `build`: write every generated file whose bytes changed.
struct BuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Validate the gateway and write policies/ and infrastructure/.",
        discussion: """
            Only files whose bytes changed are rewritten; generated policy files that the gateway no longer
            produces are deleted. Errors print as `file:line: error: TG1234 message` and exit 1.
            """
    )

    @OptionGroup var options: OutputOptions

    func run() async throws {
        let (output, changes) = try options.generateAndCompare()
        do {
            try output.apply(changes, to: options.root)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitStatus.failure
        }
        for change in changes {
            let verb = switch change {
            case .added: "created"
            case .modified: "updated"
            case .stale: "deleted"
            }
            print("\(verb) \(change.path)")
        }
        print("\(output.files.count) files generated, \(changes.count) changed")
    }
}

/// `check`: regenerate in memory and fail when the committed output differs.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Exit 1 when the committed policies/ or infrastructure/ differ from what build would write.",
        discussion: "Use it as the CI gate: it writes nothing and prints a diff of every drifted file."
    )

    @OptionGroup var options: OutputOptions

    func run() async throws {
        let (output, changes) = try options.generateAndCompare()
        guard !changes.isEmpty else {
            print("up to date: \(output.files.count) files")
            return
        }
        for change in changes {
            let root = options.root
            switch change {
            case .added(let path):
                print("missing: \(path)")
            case .stale(let path):
                print("stale (no longer generated): \(path)")
            case .modified(let path):
                print("drifted: \(path)")
                let old = (try? String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)) ?? ""
                print(UnifiedDiff.render(old: old, new: output.files[path] ?? "", oldName: "a/\(path)", newName: "b/\(path)"), terminator: "")
            }
        }
        let command = "\(ProcessName.current) build" + (options.out == "." ? "" : " --out \(options.out)")
        FileHandle.standardError.write(Data("error: \(changes.count) generated file(s) out of date; run `\(command)` and commit the result\n".utf8))
        throw ExitStatus.findings
    }
}
