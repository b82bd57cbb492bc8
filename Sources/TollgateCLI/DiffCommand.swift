import ArgumentParser
import Foundation
import PolicyXML

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `tollgate diff OLD NEW`: a semantic diff of two policy files, or of two folders matched by relative path.
///
/// Formatting, attribute order, comments and insignificant whitespace are ignored; expressions are
/// compared byte for byte. Exit status: 0 same, 1 different, 2 error (like `diff`).
public struct DiffCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show what really changed between two policy files or folders.",
        discussion: """
            Compares the canonical forms: attribute order, formatting, comments and insignificant \
            whitespace are ignored; expressions are compared byte for byte. Folders are matched by \
            relative path (*.xml). Exit status: 0 same, 1 different, 2 error.
            """
    )

    /// Output format.
    public enum Format: String, ExpressibleByArgument, CaseIterable, Sendable {
        case text, json
    }

    /// When to colour text output.
    public enum ColorMode: String, ExpressibleByArgument, CaseIterable, Sendable {
        case auto, always, never
    }

    @Argument(help: "The old policy file or folder.")
    public var old: String

    @Argument(help: "The new policy file or folder.")
    public var new: String

    @Option(help: "Output format: text (summary and unified diff of canonical forms) or json.")
    public var format: Format = .text

    @Option(help: "Colour the text output: auto (on a terminal, unless NO_COLOR is set), always, never.")
    public var color: ColorMode = .auto

    public init() {}

    public mutating func run() throws {
        let pairs: [(path: String, old: String?, new: String?)]
        do {
            pairs = try diffPairs(old: old, new: new)
        } catch {
            diffPrintError("error: \(error)")
            throw ExitCode(2)
        }
        var results: [DiffFileResult] = []
        var failed = false
        let useColor = format == .text && diffUseColor(color)
        var text = ""
        for pair in pairs {
            let oldTree: XMLElement?
            let newTree: XMLElement?
            do {
                oldTree = try pair.old.map(diffRead)
                newTree = try pair.new.map(diffRead)
            } catch {
                diffPrintError("\(error)")
                failed = true
                continue
            }
            let oldText = oldTree.map(Canonicalizer.canonicalText) ?? ""
            let newText = newTree.map(Canonicalizer.canonicalText) ?? ""
            let changes: [PolicyChange]
            let status: DiffFileResult.Status
            switch (oldTree, newTree) {
            case (let before?, let after?):
                changes = SemanticDiff.compare(before, after)
                status = changes.isEmpty ? .same : .changed
            case (nil, _?):
                changes = []
                status = .added
            default:
                changes = []
                status = .removed
            }
            guard status != .same else { continue }
            results.append(DiffFileResult(path: pair.path, status: status, changes: changes))
            if format == .text {
                text += diffSummary(path: pair.path, status: status, changes: changes)
                text += UnifiedDiff.render(
                    old: oldText, new: newText, oldName: pair.old ?? "/dev/null", newName: pair.new ?? "/dev/null",
                    color: useColor)
            }
        }
        switch format {
        case .text:
            print(text, terminator: "")
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let report = DiffReport(identical: results.isEmpty && !failed, files: results)
            let data = try encoder.encode(report)
            print(String(decoding: data, as: UTF8.self))
        }
        if failed { throw ExitCode(2) }
        if !results.isEmpty { throw ExitCode(1) }
    }
}

/// One file of a `diff --format json` report.
struct DiffFileResult: Codable, Sendable {
    enum Status: String, Codable, Sendable {
        case same, changed, added, removed
    }

    var path: String
    var status: Status
    var changes: [PolicyChange]
}

/// The `diff --format json` report.
struct DiffReport: Codable, Sendable {
    var identical: Bool
    var files: [DiffFileResult]
}

private struct DiffInputError: Error, CustomStringConvertible {
    var description: String
}

/// Files to compare: one pair for two files, or every `.xml` under either folder by relative path.
private func diffPairs(old: String, new: String) throws -> [(path: String, old: String?, new: String?)] {
    let oldIsFolder = try diffKind(old)
    let newIsFolder = try diffKind(new)
    guard oldIsFolder == newIsFolder else {
        throw DiffInputError(description: "cannot compare a file with a folder: \(old), \(new)")
    }
    guard oldIsFolder else { return [(new, old, new)] }
    let oldFiles = PolicyFileSet.xmlFiles(in: old) ?? []
    let newFiles = PolicyFileSet.xmlFiles(in: new) ?? []
    return Set(oldFiles).union(newFiles).sorted().map { relative in
        (
            relative, oldFiles.contains(relative) ? diffJoin(old, relative) : nil,
            newFiles.contains(relative) ? diffJoin(new, relative) : nil
        )
    }
}

private func diffKind(_ path: String) throws -> Bool {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw DiffInputError(description: "\(path): no such file or directory")
    }
    return isDirectory.boolValue
}

private func diffJoin(_ folder: String, _ relative: String) -> String {
    folder.hasSuffix("/") ? folder + relative : folder + "/" + relative
}

/// Relative paths of the `.xml` files under a folder.
private func diffRead(_ path: String) throws -> XMLElement {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw DiffInputError(description: "\(path): error: cannot read the file")
    }
    return try PolicyReader.parse([UInt8](data), path: path)
}

private func diffSummary(path: String, status: DiffFileResult.Status, changes: [PolicyChange]) -> String {
    switch status {
    case .added: return "# \(path): added\n"
    case .removed: return "# \(path): removed\n"
    case .same: return ""
    case .changed:
        var text = "# \(path): \(changes.count) change\(changes.count == 1 ? "" : "s")\n"
        for change in changes { text += "#   \(change)\n" }
        return text
    }
}

private func diffUseColor(_ mode: DiffCommand.ColorMode) -> Bool {
    switch mode {
    case .always: return true
    case .never: return false
    case .auto:
        let environment = ProcessInfo.processInfo.environment
        if environment["NO_COLOR"] != nil || environment["TERM"] == "dumb" { return false }
        return isatty(STDOUT_FILENO) == 1
    }
}

private func diffPrintError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
