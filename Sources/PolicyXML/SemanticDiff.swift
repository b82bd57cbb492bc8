/// One semantic difference between two policy documents.
public struct PolicyChange: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// A policy (element) exists only in the new document.
        case added
        /// A policy (element) exists only in the old document.
        case removed
        case attributeAdded
        case attributeRemoved
        case attributeChanged
        /// The element's own text changed (including an expression used as the whole text).
        case textChanged
        /// The root element differs (`policies` versus `fragment`).
        case rootChanged
    }

    public var kind: Kind
    /// Path of the element, e.g. `inbound/choose[1]/when[2]/set-header[@name='x']` (root not included).
    public var path: String
    /// The attribute, for attribute changes.
    public var attribute: String?
    /// Old value: attribute value, text, or the removed element in canonical form.
    public var old: String?
    /// New value: attribute value, text, or the added element in canonical form.
    public var new: String?
    /// True when the old or new value is a policy expression (`@(…)`/`@{…}`).
    public var isExpression: Bool
    /// Line of the element in the old document, if known.
    public var oldLine: Int?
    /// Line of the element in the new document, if known.
    public var newLine: Int?

    public init(
        kind: Kind, path: String, attribute: String? = nil, old: String? = nil, new: String? = nil,
        isExpression: Bool = false, oldLine: Int? = nil, newLine: Int? = nil
    ) {
        self.kind = kind
        self.path = path
        self.attribute = attribute
        self.old = old
        self.new = new
        self.isExpression = isExpression
        self.oldLine = oldLine
        self.newLine = newLine
    }

    /// One line for people, e.g. `changed inbound/set-header[@name='x'] @value (expression)`.
    public var description: String {
        let target = attribute.map { "\(path) @\($0)" } ?? path
        let expression = isExpression ? " (expression)" : ""
        switch kind {
        case .added: return "added \(target)"
        case .removed: return "removed \(target)"
        case .attributeAdded: return "added attribute \(target) = \(quoted(new))"
        case .attributeRemoved: return "removed attribute \(target) (was \(quoted(old)))"
        case .attributeChanged:
            if isLong(old) || isLong(new) { return "changed \(target)\(expression)" }
            return "changed \(target)\(expression): \(quoted(old)) -> \(quoted(new))"
        case .textChanged: return "changed text of \(target.isEmpty ? "root" : target)\(expression)"
        case .rootChanged: return "changed root <\(old ?? "")> -> <\(new ?? "")>"
        }
    }

    private func isLong(_ value: String?) -> Bool {
        guard let value else { return false }
        return value.count > 60 || value.contains("\n")
    }

    private func quoted(_ value: String?) -> String {
        guard let value else { return "nil" }
        let oneLine = value.count > 80 || value.contains("\n") ? String(value.prefix(77)).replacingNewlines() + "…" : value
        return "\"\(oneLine)\""
    }
}

extension String {
    fileprivate func replacingNewlines() -> String {
        String(self.map { $0 == "\n" || $0 == "\r\n" ? " " : $0 })
    }
}

/// Compares two policy trees semantically: formatting, attribute order, comments and insignificant
/// whitespace are ignored; expressions are compared byte for byte.
public enum SemanticDiff {
    /// The differences between `old` and `new`, in document order. Empty when they are equivalent.
    public static func compare(_ old: XMLElement, _ new: XMLElement) -> [PolicyChange] {
        let old = Canonicalizer.canonicalize(old)
        let new = Canonicalizer.canonicalize(new)
        var changes: [PolicyChange] = []
        if old.name != new.name {
            changes.append(
                PolicyChange(
                    kind: .rootChanged, path: "", old: old.name, new: new.name, oldLine: old.position?.line,
                    newLine: new.position?.line))
        }
        compareElement(old, new, path: "", isRoot: true, into: &changes)
        return changes
    }

    private static func compareElement(
        _ old: XMLElement, _ new: XMLElement, path: String, isRoot: Bool, into changes: inout [PolicyChange]
    ) {
        // Attributes (both sides are sorted by name).
        var oldAttributes: [String: XMLAttribute] = [:]
        for attribute in old.attributes where oldAttributes[attribute.name] == nil { oldAttributes[attribute.name] = attribute }
        var newAttributes: [String: XMLAttribute] = [:]
        for attribute in new.attributes where newAttributes[attribute.name] == nil { newAttributes[attribute.name] = attribute }
        let names = Set(oldAttributes.keys).union(newAttributes.keys).sorted()
        for name in names {
            let before = oldAttributes[name]?.value
            let after = newAttributes[name]?.value
            guard before != after else { continue }
            let kind: PolicyChange.Kind = before == nil ? .attributeAdded : after == nil ? .attributeRemoved : .attributeChanged
            changes.append(
                PolicyChange(
                    kind: kind, path: path, attribute: name, old: before, new: after,
                    isExpression: (before?.isPolicyExpression ?? false) || (after?.isPolicyExpression ?? false),
                    oldLine: old.position?.line, newLine: new.position?.line))
        }
        // Own text.
        let oldText = Canonicalizer.ownText(old)
        let newText = Canonicalizer.ownText(new)
        if oldText != newText {
            changes.append(
                PolicyChange(
                    kind: .textChanged, path: path, old: oldText.isEmpty ? nil : oldText,
                    new: newText.isEmpty ? nil : newText, isExpression: oldText.isPolicyExpression || newText.isPolicyExpression,
                    oldLine: old.position?.line, newLine: new.position?.line))
        }
        // Child elements, aligned by name and `name` attribute.
        let oldChildren = old.elements
        let newChildren = new.elements
        let oldSegments = segments(oldChildren, isSection: isRoot && old.name == "policies")
        let newSegments = segments(newChildren, isSection: isRoot && new.name == "policies")
        let oldKeys = oldChildren.map(key)
        let newKeys = newChildren.map(key)
        for step in align(oldKeys, newKeys) {
            switch step {
            case .both(let i, let j):
                compareElement(
                    oldChildren[i], newChildren[j], path: join(path, newSegments[j]), isRoot: false, into: &changes)
            case .onlyOld(let i):
                changes.append(
                    PolicyChange(
                        kind: .removed, path: join(path, oldSegments[i]),
                        old: XMLWriter(format: .raw).write(oldChildren[i]), oldLine: oldChildren[i].position?.line))
            case .onlyNew(let j):
                changes.append(
                    PolicyChange(
                        kind: .added, path: join(path, newSegments[j]),
                        new: XMLWriter(format: .raw).write(newChildren[j]), newLine: newChildren[j].position?.line))
            }
        }
    }

    private static func join(_ path: String, _ segment: String) -> String {
        path.isEmpty ? segment : path + "/" + segment
    }

    private static func key(_ element: XMLElement) -> String {
        element.name + "\u{0}" + (element[attribute: "name"] ?? "")
    }

    /// Path segments: `set-header[@name='x']`, `choose[1]`, or a bare section name (`inbound`).
    private static func segments(_ elements: [XMLElement], isSection: Bool) -> [String] {
        var nameCounts: [String: Int] = [:]
        var keyCounts: [String: Int] = [:]
        for element in elements {
            nameCounts[element.name, default: 0] += 1
            keyCounts[key(element), default: 0] += 1
        }
        var seenNames: [String: Int] = [:]
        var seenKeys: [String: Int] = [:]
        return elements.map { element in
            seenNames[element.name, default: 0] += 1
            seenKeys[key(element), default: 0] += 1
            if let name = element[attribute: "name"] {
                let quoted = name.contains("'") ? "\"\(name)\"" : "'\(name)'"
                let base = "\(element.name)[@name=\(quoted)]"
                return keyCounts[key(element)]! > 1 ? base + "[\(seenKeys[key(element)]!)]" : base
            }
            if isSection && nameCounts[element.name]! == 1 { return element.name }
            return "\(element.name)[\(seenNames[element.name]!)]"
        }
    }

    private enum Step {
        case both(Int, Int)
        case onlyOld(Int)
        case onlyNew(Int)
    }

    /// Longest-common-subsequence alignment of two key sequences.
    private static func align(_ a: [String], _ b: [String]) -> [Step] {
        let n = a.count
        let m = b.count
        var table = [Int](repeating: 0, count: (n + 1) * (m + 1))
        let width = m + 1
        if n > 0 && m > 0 {
            for i in stride(from: n - 1, through: 0, by: -1) {
                for j in stride(from: m - 1, through: 0, by: -1) {
                    table[i * width + j] =
                        a[i] == b[j] ? table[(i + 1) * width + j + 1] + 1 : max(table[(i + 1) * width + j], table[i * width + j + 1])
                }
            }
        }
        var steps: [Step] = []
        var i = 0
        var j = 0
        while i < n || j < m {
            if i < n && j < m && a[i] == b[j] {
                steps.append(.both(i, j)); i += 1; j += 1
            } else if j < m && (i == n || table[i * width + j + 1] >= table[(i + 1) * width + j]) {
                steps.append(.onlyNew(j)); j += 1
            } else {
                steps.append(.onlyOld(i)); i += 1
            }
        }
        return steps
    }
}
