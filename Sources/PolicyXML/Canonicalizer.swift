/// The canonical form of a policy tree, used by `diff` and by semantic comparison.
///
/// Canonical form: attributes sorted by name; comments dropped (unless asked to keep them);
/// adjacent text and CDATA merged, trimmed of leading and trailing whitespace, and dropped when
/// empty; expressions kept byte for byte. Merged text that contains `<` or `&` and is not an
/// expression becomes a CDATA section (so templates stay readable), otherwise plain text.
public enum Canonicalizer {
    /// The canonical tree. Element and attribute positions are kept.
    public static func canonicalize(_ element: XMLElement, keepComments: Bool = false) -> XMLElement {
        var result = element
        result.attributes = element.attributes.enumerated().sorted {
            $0.element.name == $1.element.name ? $0.offset < $1.offset : $0.element.name < $1.element.name
        }.map(\.element)
        var children: [XMLNode] = []
        var pendingText: String?
        func flush() {
            guard let text = pendingText else { return }
            pendingText = nil
            let trimmed = text.trimmingXMLWhitespace()
            guard !trimmed.isEmpty else { return }
            children.append(textNode(trimmed))
        }
        for child in element.children {
            switch child {
            case .text(let text), .cdata(let text):
                pendingText = (pendingText ?? "") + text
            case .comment(let comment):
                guard keepComments else { continue }
                flush()
                children.append(.comment(comment))
            case .element(let child):
                flush()
                children.append(.element(canonicalize(child, keepComments: keepComments)))
            }
        }
        flush()
        result.children = children
        return result
    }

    /// The canonical text of a tree: the canonical tree written in the raw format.
    public static func canonicalText(_ element: XMLElement) -> String {
        XMLWriter(format: .raw).write(canonicalize(element))
    }

    /// The merged, trimmed text of an element (text and CDATA, comments ignored).
    static func ownText(_ element: XMLElement) -> String {
        var text = ""
        for child in element.children {
            switch child {
            case .text(let value), .cdata(let value): text += value
            default: break
            }
        }
        return text.trimmingXMLWhitespace()
    }

    private static func textNode(_ text: String) -> XMLNode {
        if !text.isPolicyExpression, !text.contains("]]>"), text.contains("<") || text.contains("&") {
            return .cdata(text)
        }
        return .text(text)
    }
}
