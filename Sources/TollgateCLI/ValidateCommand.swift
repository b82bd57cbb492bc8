import ArgumentParser
import Diagnostics
import Foundation
import PolicyCompiler
import PolicyXML

/// `tollgate validate PATH…`: the compiler's rule table applied to hand-written policy files.
public struct ValidateCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check policy XML files against APIM's rules.",
        discussion: """
            Reads each file with the expression-aware reader (raw APIM format with unescaped C# expressions \
            is fine) and applies the same rule table as `build`: unknown elements (with a did-you-mean), \
            policies in the wrong section or scope, unknown or missing attributes, values out of range or \
            not in the allowed set, once-only policies, fragments with sections or <base />, fragments \
            over 32 KB.

            The scope of a file (global, api, operation, product) is inferred from its path \
            (products/…, apis/…, apis/x/operations/…, global.xml or a top-level policy.xml) unless \
            --scope is given; a <fragment> root is always checked as a fragment.

            Output: `path:line:col: error|warning: TGxxxx message`. Exit status: 0 clean (warnings \
            allowed), 1 errors found, 2 unreadable input or usage error.
            """
    )

    @Argument(help: "Policy files or folders (folders are searched for *.xml).")
    public var paths: [String]

    @Option(help: "Treat every file as this scope: global, workspace, product, api or operation.")
    public var scope: PolicyScope?

    @Option(help: "Output format: text or json.")
    public var format: DiagnosticRenderer.Format = .text

    public init() {}

    public func run() throws {
        let set = PolicyFileSet(paths)
        for problem in set.problems { FileHandle.standardError.write(Data("error: \(problem)\n".utf8)) }
        var diagnostics: [Diagnostic] = []
        var unreadable = !set.problems.isEmpty
        for file in set.files {
            guard let data = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("error: \(file): cannot read the file\n".utf8))
                unreadable = true
                continue
            }
            diagnostics += Self.validate(Array(data), path: file, scope: scope ?? Self.inferScope(file))
        }
        let output = DiagnosticRenderer.render(diagnostics, format: format)
        FileHandle.standardOutput.write(Data(output.utf8))
        if format == .text {
            let errors = diagnostics.filter { $0.severity == .error }.count
            let warnings = diagnostics.count - errors
            FileHandle.standardError.write(Data("\(set.files.count) file(s) checked: \(errors) error(s), \(warnings) warning(s)\n".utf8))
        }
        if unreadable { throw ExitStatus.failure }
        if diagnostics.contains(where: { $0.severity == .error }) { throw ExitStatus.findings }
    }

    /// Diagnostics for one policy file: a parse error, or the rule table's findings.
    static func validate(_ data: [UInt8], path: String, scope: PolicyScope?) -> [Diagnostic] {
        let root: XMLElement
        do {
            root = try PolicyReader.parse(data, path: path)
        } catch {
            return [Diagnostic(
                id: DiagnosticID.unreadablePolicy.rawValue, severity: .error, message: error.message,
                location: Diagnostic.Location(file: path, line: error.line, column: error.column), notes: error.notes)]
        }
        return PolicyValidator().validate(root, scope: scope, file: path, renderedBytes: data.count).map(\.diagnostic)
    }

    /// The scope a file's path suggests (APIOps and Tollgate layouts), or nil when unclear.
    static func inferScope(_ path: String) -> PolicyScope? {
        let parts = path.split(separator: "/").map { $0.lowercased() }
        if parts.contains("operations") { return .operation }
        if parts.contains("apis") { return .api }
        if parts.contains("products") { return .product }
        if parts.contains("workspaces") { return .workspace }
        if parts.last == "global.xml" { return .global }
        return nil
    }
}

extension PolicyScope: ExpressibleByArgument {}
