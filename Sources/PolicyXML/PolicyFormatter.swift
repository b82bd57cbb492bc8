/// `tollgate fmt`: rewrites a policy file in the writer's canonical layout (4-space indentation,
/// LF, final newline, one element per line) while keeping every expression (as written, escaped or
/// raw), comment and CDATA section byte for byte, the XML declaration as written, attribute order, and the file's format
/// (raw stays raw; well-formed XML stays well-formed).
public enum PolicyFormatter {
    /// The formatted text of a document.
    public static func format(_ document: PolicyFile, as format: XMLWriter.Format? = nil) -> String {
        var output = ""
        if let declaration = document.declaration { output += declaration + "\n" }
        for comment in document.leadingComments { output += "<!--\(comment)-->\n" }
        let format = format ?? document.sourceFormat
        var writer = XMLWriter(format: format)
        writer.expressionSources = expressionSources(document, for: format)
        output += writer.write(document.root)
        for comment in document.trailingComments { output += "<!--\(comment)-->\n" }
        return output
    }

    /// The source text of each expression, where writing it verbatim is valid in `format`: raw output
    /// takes any source (the reader decodes escaped ones); escaped output only well-formed sources
    /// that fit between double quotes.
    static func expressionSources(_ document: PolicyFile, for format: XMLWriter.Format) -> [String: String] {
        var sources: [String: String] = [:]
        for expression in document.expressions where sources[expression.value] == nil {
            let source = expression.source.utf8.contains(0x0D) ? ExpressionScanner.foldLineEnds(expression.source) : expression.source
            if format == .escaped {
                // A raw source is not decoded when read; written into well-formed XML it would be.
                guard expression.isWellFormedXML else { continue }
                let bytes = ArraySlice(source.utf8)
                // Between double quotes, or between single quotes when it holds double quotes.
                let quote = source.contains("\"") ? UInt8(ascii: "'") : UInt8(ascii: "\"")
                guard ExpressionScanner.isWellFormedXML(bytes, quote: quote) && ExpressionScanner.isWellFormedXML(bytes, quote: nil)
                else { continue }
            }
            sources[expression.value] = source
        }
        return sources
    }

    /// Reads and formats a file's bytes.
    public static func format(_ data: [UInt8], path: String) throws(PolicyParseError) -> String {
        format(try PolicyReader.parseDocument(data, path: path))
    }
}
