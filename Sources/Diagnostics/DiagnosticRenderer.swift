import Foundation

/// Renders diagnostics for people (one `path:line: error: …` line each) or for machines (JSON).
public enum DiagnosticRenderer {
    public enum Format: String, Sendable, CaseIterable {
        case text, json
    }

    public static func render(_ diagnostics: [Diagnostic], format: Format) -> String {
        switch format {
        case .text:
            return diagnostics.map { $0.rendered + "\n" }.joined()
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let data = (try? encoder.encode(Report(diagnostics: diagnostics))) ?? Data("{}".utf8)
            return String(decoding: data, as: UTF8.self) + "\n"
        }
    }

    struct Report: Encodable {
        var diagnostics: [Diagnostic]
        var errorCount: Int { diagnostics.filter { $0.severity == .error }.count }
        var warningCount: Int { diagnostics.filter { $0.severity == .warning }.count }

        enum CodingKeys: String, CodingKey { case diagnostics, errorCount, warningCount }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(diagnostics, forKey: .diagnostics)
            try container.encode(errorCount, forKey: .errorCount)
            try container.encode(warningCount, forKey: .warningCount)
        }
    }
}
