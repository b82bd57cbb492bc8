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
            guard let enumerator = FileManager.default.enumerator(atPath: argument) else {
                problems.append("\(argument): cannot list the folder")
                continue
            }
            var found: [Entry] = []
            while let relative = enumerator.nextObject() as? String {
                if relative.lowercased().hasSuffix(".xml") {
                    found.append(Entry(path: (argument as NSString).appendingPathComponent(relative), relative: relative))
                }
            }
            entries += found.sorted { $0.relative < $1.relative }
        }
    }
}
