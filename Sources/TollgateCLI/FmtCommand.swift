import ArgumentParser
import Foundation
import PolicyXML

/// `tollgate fmt [--check] [--stdout] PATH…`: rewrites policy files in the canonical layout.
///
/// Every expression, comment and CDATA section is kept byte for byte, and a file stays in the
/// format it was written in (APIM raw format or well-formed XML). Exit status: 0 done (or nothing
/// to change), 1 with `--check` when some file would change, 2 when a file cannot be read or written.
public struct FmtCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "fmt",
        abstract: "Rewrite policy files in the canonical layout (4-space indent, LF, one element per line).",
        discussion: """
            Keeps every expression, comment and CDATA section byte for byte. Folders are searched for \
            *.xml files. With --check nothing is written: the files that would change are listed and \
            the exit status is 1. Exit status 2: a file could not be read or written.
            """
    )

    @Flag(help: "Do not write; list the files that would change and exit 1 if there are any.")
    public var check = false

    @Flag(name: .customLong("stdout"), help: "Print the formatted text instead of rewriting the files.")
    public var toStandardOutput = false

    @Argument(help: "Policy files or folders.")
    public var paths: [String]

    public init() {}

    public func validate() throws {
        if paths.isEmpty { throw ValidationError("give at least one policy file or folder") }
    }

    public mutating func run() throws {
        let fileSet = PolicyFileSet(paths)
        for problem in fileSet.problems { fmtPrintError("error: \(problem)") }
        var failed = !fileSet.problems.isEmpty
        var changed: [String] = []
        for path in fileSet.files {
            guard let data = FileManager.default.contents(atPath: path) else {
                fmtPrintError("\(path): error: cannot read the file")
                failed = true
                continue
            }
            let bytes = [UInt8](data)
            let formatted: String
            do {
                formatted = try PolicyFormatter.format(bytes, path: path)
            } catch {
                fmtPrintError("\(error)")
                failed = true
                continue
            }
            let isChanged = Array(formatted.utf8) != bytes
            if isChanged { changed.append(path) }
            if toStandardOutput {
                print(formatted, terminator: "")
                continue
            }
            guard isChanged else { continue }
            if check {
                print(path)
                continue
            }
            do {
                try Data(formatted.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
                print(path)
            } catch {
                fmtPrintError("\(path): error: cannot write the file: \(error.localizedDescription)")
                failed = true
            }
        }
        if failed { throw ExitCode(2) }
        if check && !changed.isEmpty { throw ExitCode(1) }
    }
}

private func fmtPrintError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
