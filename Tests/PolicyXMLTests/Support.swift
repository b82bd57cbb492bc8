import Foundation
import Testing

@testable import PolicyXML

/// The shared corpus next to the package (`../shared/corpus`), if present.
enum Corpus {
    static let directory: URL? = {
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let corpus = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: corpus.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return nil
        }
        return corpus
    }()

    /// Every corpus file except MANIFEST.tsv, sorted by relative path.
    static func files() -> [(relativePath: String, bytes: [UInt8])] {
        guard let directory else { return [] }
        let enumerator = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey])
        var result: [(String, [UInt8])] = []
        while let url = enumerator?.nextObject() as? URL {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true,
                url.lastPathComponent != "MANIFEST.tsv", let data = FileManager.default.contents(atPath: url.path)
            else { continue }
            let relative = String(url.path.dropFirst(directory.path.count + 1))
            result.append((relative, [UInt8](data)))
        }
        return result.sorted { $0.0 < $1.0 }
    }

    /// Missing corpus: fine locally, a failure in CI.
    static var isRequired: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }
}
