import Foundation

/// The policy files named on a command line: files as given, folders expanded to the `.xml` files
/// below them (sorted, so output order is stable).
struct PolicyFileSet {
    /// A file and its path relative to the argument that named it (its name, for a file argument).
    struct Entry {
        var path: String
        var relative: String
    }

    var entries: [Entry] = []
    /// The files' paths, in a stable order.
    var files: [String] { entries.map(\.path) }
    /// Arguments that do not exist or cannot be listed.
    var problems: [String] = []

    init(_ arguments: [String]) {
        for argument in arguments {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
                problems.append("\(argument): no such file or directory")
                continue
            }
            guard isDirectory.boolValue else {
                entries.append(Entry(path: argument, relative: (argument as NSString).lastPathComponent))
                continue
            }
            guard let relatives = Self.xmlFiles(in: argument) else {
                problems.append("\(argument): cannot list the folder")
                continue
            }
            entries += relatives.map { Entry(path: (argument as NSString).appendingPathComponent($0), relative: $0) }
        }
    }

    /// The regular `.xml` files below `folder`, as paths relative to it, sorted; nil when the folder
    /// cannot be listed.
    static func xmlFiles(in folder: String) -> [String]? {
        let root = URL(fileURLWithPath: folder).standardizedFileURL
        guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        else { return nil }
        var files: [String] = []
        while let url = enumerator.nextObject() as? URL {
            guard url.pathExtension.lowercased() == "xml",
                (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true
            else { continue }
            files.append(String(url.standardizedFileURL.path.dropFirst(root.path.count).drop(while: { $0 == "/" })))
        }
        return files.sorted()
    }
}
