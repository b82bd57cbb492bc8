import Diagnostics
import Foundation
import GatewayModel
import InfraEmitters
import PolicyCompiler
import PolicyXML

/// The files a build produces, and how they compare with what is on disk.
struct GeneratedOutput {
    /// Relative path → contents.
    var files: [String: String]
    /// Folders the build owns completely: a file there that the build did not produce is stale.
    var managedFolders: [String] = GeneratedOutput.managedFolders

    static let managedFolders = ["policies", "infrastructure/bicep", "infrastructure/terraform"]

    /// Everything `build` writes for a gateway: policies, runtime configuration, Bicep and Terraform.
    /// Returns nil output when the gateway has errors; diagnostics are returned either way.
    static func generate(_ gateway: Gateway, xml: XMLWriter.Format = .raw) -> (GeneratedOutput?, [Diagnostic]) {
        let compiled = GatewayCompiler(format: xml).compile(gateway)
        guard !compiled.hasErrors else { return (nil, compiled.diagnostics) }
        do {
            let infrastructure = try InfrastructureEmitter.files(for: gateway)
            let files = compiled.files.merging(infrastructure) { policy, _ in policy }
            return (GeneratedOutput(files: files), compiled.diagnostics)
        } catch let error as InfrastructureError {
            let diagnostic = Diagnostic(
                id: DiagnosticID.infrastructure.rawValue, severity: .error, message: "\(error.element): \(error.message)",
                location: Diagnostic.Location(file: error.location?.fileID, line: error.location?.line, path: error.element))
            return (nil, compiled.diagnostics + [diagnostic])
        } catch {
            let diagnostic = Diagnostic(
                id: DiagnosticID.infrastructure.rawValue, severity: .error, message: "\(error)", location: Diagnostic.Location(path: "infrastructure"))
            return (nil, compiled.diagnostics + [diagnostic])
        }
    }

    enum Change: Equatable {
        case added(String)
        case modified(String)
        case stale(String)

        var path: String {
            switch self {
            case .added(let path), .modified(let path), .stale(let path): path
            }
        }
    }

    /// Differences between the generated files and the directory `root`, sorted by path.
    func changes(against root: URL) throws -> [Change] {
        var changes: [Change] = []
        for (path, contents) in files {
            let url = root.appendingPathComponent(path)
            guard let existing = FileManager.default.contents(atPath: url.path) else {
                changes.append(.added(path))
                continue
            }
            if existing != Data(contents.utf8) { changes.append(.modified(path)) }
        }
        for folder in managedFolders {
            for path in try existingFiles(in: folder, root: root) where files[path] == nil {
                changes.append(.stale(path))
            }
        }
        return changes.sorted { $0.path < $1.path }
    }

    /// Files under `folder` (relative to `root`), as relative paths.
    func existingFiles(in folder: String, root: URL) throws -> [String] {
        let base = root.appendingPathComponent(folder)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: base.path, isDirectory: &isDirectory), isDirectory.boolValue else { return [] }
        guard let enumerator = FileManager.default.enumerator(atPath: base.path) else { return [] }
        var paths: [String] = []
        while let relative = enumerator.nextObject() as? String {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: base.appendingPathComponent(relative).path, isDirectory: &isDir), !isDir.boolValue {
                paths.append(folder + "/" + relative)
            }
        }
        return paths
    }

    /// A file that could not be written or deleted.
    struct WriteError: Error, CustomStringConvertible {
        var path: String
        var reason: String
        var description: String { "cannot write \(path): \(reason)" }
    }

    /// Writes added and modified files, deletes stale ones; unchanged files are not touched.
    func apply(_ changes: [Change], to root: URL) throws {
        for change in changes {
            let url = root.appendingPathComponent(change.path)
            do {
                try apply(change, at: url)
            } catch {
                let reason = (error as NSError).userInfo[NSUnderlyingErrorKey].map { "\($0)" } ?? error.localizedDescription
                throw WriteError(path: url.path, reason: reason)
            }
        }
    }

    private func apply(_ change: Change, at url: URL) throws {
        switch change {
        case .added(let path), .modified(let path):
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(files[path]!.utf8).write(to: url, options: .atomic)
        case .stale:
            try FileManager.default.removeItem(at: url)
        }
    }
}
