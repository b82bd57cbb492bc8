import Foundation

/// The policy files named on a command line: files as given, folders expanded to the `.xml` files
/// below them (sorted, so output order is stable).
struct PolicyFileSet {
    /// Absolute or relative paths, in a stable order.
    var files: [String] = []
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
                files.append(argument)
                continue
            }
            guard let enumerator = FileManager.default.enumerator(atPath: argument) else {
                problems.append("\(argument): cannot list the folder")
                continue
            }
            var found: [String] = []
            while let relative = enumerator.nextObject() as? String {
                if relative.lowercased().hasSuffix(".xml") {
                    found.append((argument as NSString).appendingPathComponent(relative))
                }
            }
            files += found.sorted()
        }
    }
}
