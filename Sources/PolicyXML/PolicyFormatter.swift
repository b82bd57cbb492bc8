/// `tollgate fmt`: rewrites a policy file in the writer's canonical layout (4-space indentation,
/// LF, final newline, one element per line) while keeping every expression, comment and CDATA
/// section byte for byte, the XML declaration as written, attribute order, and the file's format
/// (raw stays raw; well-formed XML stays well-formed).
public enum PolicyFormatter {
    /// The formatted text of a document.
    public static func format(_ document: PolicyFile, as format: XMLWriter.Format? = nil) -> String {
        var output = ""
        if let declaration = document.declaration { output += declaration + "\n" }
        for comment in document.leadingComments { output += "<!--\(comment)-->\n" }
        output += XMLWriter(format: format ?? document.sourceFormat).write(document.root)
        for comment in document.trailingComments { output += "<!--\(comment)-->\n" }
        return output
    }

    /// Reads and formats a file's bytes.
    public static func format(_ data: [UInt8], path: String) throws(PolicyParseError) -> String {
        format(try PolicyReader.parseDocument(data, path: path))
    }
}
