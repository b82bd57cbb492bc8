import Diagnostics
import PolicyXML

/// The scope a policy document is attached to.
public enum PolicyScope: String, Sendable, CaseIterable, Codable {
    case global, workspace, product, api, operation
}

/// Checks a policy document or fragment against the rule table: element names, sections, scopes,
/// attributes, values, children and once-only policies.
public struct PolicyValidator: Sendable {
    /// Definitions the document may reference; nil means "unknown, do not check".
    public struct KnownNames: Sendable {
        public var fragments: Set<String>?
        public var namedValues: Set<String>?
        public var backends: Set<String>?

        public init(fragments: Set<String>? = nil, namedValues: Set<String>? = nil, backends: Set<String>? = nil) {
            self.fragments = fragments
            self.namedValues = namedValues
            self.backends = backends
        }
    }

    /// A finding plus the index path of the element it concerns (section index, policy index, …),
    /// so callers can map it back to a declaration.
    public struct Finding: Sendable {
        public var diagnostic: Diagnostic
        public var indexPath: [Int]
    }

    public static let maximumFragmentBytes = 32 * 1024

    /// Policies whose content is a payload (XML, XSLT, liquid, a log message), not policy structure.
    static let freeformContent: Set<String> = ["set-body", "xsl-transform", "cross-domain", "log-to-eventhub", "publish-to-dapr", "mock-response"]

    public var table: PolicyRuleTable
    public var known: KnownNames

    public init(table: PolicyRuleTable = .shared, known: KnownNames = KnownNames()) {
        self.table = table
        self.known = known
    }

    /// Validates a document whose root is `<policies>` (with `scope`, nil when unknown) or `<fragment>`.
    /// `renderedBytes`, the size of the document as written, lets the validator enforce APIM's
    /// fragment size limit.
    public func validate(_ root: XMLElement, scope: PolicyScope?, file: String? = nil, renderedBytes: Int? = nil) -> [Finding] {
        var run = Run(validator: self, file: file, scope: scope)
        switch root.name {
        case "policies": run.document(root)
        case "fragment":
            run.fragment(root)
            if let renderedBytes, renderedBytes > Self.maximumFragmentBytes {
                run.report(
                    .fragmentTooLarge, .error, "fragment is \(renderedBytes) bytes; APIM allows at most \(Self.maximumFragmentBytes)",
                    root, path: root.name, indexPath: [])
            }
        default:
            run.report(.invalidDocumentRoot, .error, "document root is <\(root.name)>; expected <policies> or <fragment>", root, path: root.name, indexPath: [])
        }
        return run.findings
    }

    private struct Run {
        let validator: PolicyValidator
        let file: String?
        let scope: PolicyScope?
        var findings: [Finding] = []
        var onceCounts: [String: Int] = [:]

        init(validator: PolicyValidator, file: String?, scope: PolicyScope?) {
            self.validator = validator
            self.file = file
            self.scope = scope
        }

        var table: PolicyRuleTable { validator.table }

        mutating func report(
            _ id: DiagnosticID, _ severity: Diagnostic.Severity, _ message: String, _ element: XMLElement, path: String,
            indexPath: [Int], notes: [String] = []
        ) {
            let location = Diagnostic.Location(
                file: file, line: element.position?.line, column: element.position?.column, path: path)
            findings.append(Finding(
                diagnostic: Diagnostic(id: id.rawValue, severity: severity, message: message, location: location, notes: notes),
                indexPath: indexPath))
        }

        mutating func document(_ root: XMLElement) {
            var seen: Set<String> = []
            checkAttributesAbsent(root, path: "policies", indexPath: [])
            for (index, section) in root.elements.enumerated() {
                let sectionPath = section.name
                guard ["inbound", "backend", "outbound", "on-error"].contains(section.name) else {
                    report(.invalidChild, .error, "<\(section.name)> is not a policy section; expected inbound, backend, outbound or on-error", section, path: sectionPath, indexPath: [index])
                    continue
                }
                if !seen.insert(section.name).inserted {
                    report(.invalidChild, .error, "section <\(section.name)> appears more than once", section, path: sectionPath, indexPath: [index])
                }
                checkAttributesAbsent(section, path: sectionPath, indexPath: [index])
                var sectionOnce: [String: Int] = [:]
                policies(section.elements, section: section.name, inFragment: false, parentPath: sectionPath, indexPath: [index], sectionOnce: &sectionOnce)
            }
        }

        mutating func fragment(_ root: XMLElement) {
            checkAttributesAbsent(root, path: "fragment", indexPath: [])
            var sectionOnce: [String: Int] = [:]
            policies(root.elements, section: nil, inFragment: true, parentPath: "fragment", indexPath: [], sectionOnce: &sectionOnce)
        }

        mutating func checkAttributesAbsent(_ element: XMLElement, path: String, indexPath: [Int]) {
            for attribute in element.attributes where !attribute.name.hasPrefix("xmlns") {
                report(.unknownAttribute, .error, "<\(element.name)> takes no attribute \"\(attribute.name)\"", element, path: path, indexPath: indexPath)
            }
        }

        /// Validates a list of sibling policies.
        mutating func policies(
            _ elements: [XMLElement], section: String?, inFragment: Bool, parentPath: String, indexPath: [Int],
            sectionOnce: inout [String: Int]
        ) {
            var ordinals: [String: Int] = [:]
            for (index, element) in elements.enumerated() {
                ordinals[element.name, default: 0] += 1
                let path = parentPath + "/" + PolicyPath.step(element, ordinal: ordinals[element.name]!)
                policy(element, section: section, inFragment: inFragment, path: path, indexPath: indexPath + [index], sectionOnce: &sectionOnce)
            }
        }

        mutating func policy(
            _ element: XMLElement, section: String?, inFragment: Bool, path: String, indexPath: [Int],
            sectionOnce: inout [String: Int]
        ) {
            let name = element.name
            if ["inbound", "backend", "outbound", "on-error"].contains(name) {
                let id: DiagnosticID = inFragment ? .fragmentStructure : .invalidChild
                report(id, .error, inFragment ? "a fragment cannot contain the section <\(name)>" : "section <\(name)> nested inside a policy", element, path: path, indexPath: indexPath)
                return
            }
            if name == "base" {
                if inFragment {
                    report(.fragmentStructure, .error, "a fragment cannot contain <base />", element, path: path, indexPath: indexPath)
                }
                checkAttributesAbsent(element, path: path, indexPath: indexPath)
                return
            }
            if name == "choose" {
                choose(element, section: section, inFragment: inFragment, path: path, indexPath: indexPath, sectionOnce: &sectionOnce)
                return
            }
            guard let rule = table.elements[name] else {
                if table.undocumented.contains(name) {
                    report(.undocumentedElement, .warning, "<\(name)> is declared in Microsoft's XSD but not documented as a policy", element, path: path, indexPath: indexPath)
                } else {
                    let suggestions = table.suggestions(for: name)
                    let hint = suggestions.isEmpty ? "" : " (did you mean \(suggestions.map { "<\($0)>" }.joined(separator: " or "))?)"
                    report(.unknownElement, .error, "unknown policy <\(name)>\(hint)", element, path: path, indexPath: indexPath)
                }
                return
            }
            if let section, !rule.sections.contains(section) {
                report(.wrongSection, .error, "<\(name)> is not allowed in <\(section)>; allowed in \(rule.sections.joined(separator: ", "))", element, path: path, indexPath: indexPath)
            }
            if let scope, !inFragment, !rule.scopes.contains(scope.rawValue) {
                report(.wrongScope, .error, "<\(name)> is not allowed at \(scope.rawValue) scope; allowed at \(rule.scopes.joined(separator: ", "))", element, path: path, indexPath: indexPath)
            }
            if let once = rule.once {
                let count: Int
                if once == "document" {
                    onceCounts[name, default: 0] += 1
                    count = onceCounts[name]!
                } else {
                    sectionOnce[name, default: 0] += 1
                    count = sectionOnce[name]!
                }
                if count == 2 {
                    report(.usedMoreThanOnce, .error, "<\(name)> may be used only once per \(once)", element, path: path, indexPath: indexPath)
                }
            }
            attributes(element, rules: rule.attributes, path: path, indexPath: indexPath)
            constraints(element, path: path, indexPath: indexPath)
            references(element, path: path, indexPath: indexPath)
            if rule.containsPolicies == true, rule.children == nil || rule.children!.isEmpty {
                policies(element.elements, section: section, inFragment: inFragment, parentPath: path, indexPath: indexPath, sectionOnce: &sectionOnce)
            } else {
                children(element, rules: rule.children ?? [:], containsPolicies: rule.containsPolicies == true, section: section, inFragment: inFragment, path: path, indexPath: indexPath, sectionOnce: &sectionOnce)
            }
        }

        mutating func choose(
            _ element: XMLElement, section: String?, inFragment: Bool, path: String, indexPath: [Int],
            sectionOnce: inout [String: Int]
        ) {
            checkAttributesAbsent(element, path: path, indexPath: indexPath)
            var ordinals: [String: Int] = [:]
            var sawOtherwise = false
            var whenCount = 0
            // Only one branch runs, so once-only counts take the maximum over branches, not the sum.
            let documentBefore = onceCounts, sectionBefore = sectionOnce
            var documentAfter = onceCounts, sectionAfter = sectionOnce
            defer {
                onceCounts = documentAfter
                sectionOnce = sectionAfter
            }
            for (index, branch) in element.elements.enumerated() {
                ordinals[branch.name, default: 0] += 1
                let branchPath = path + "/" + PolicyPath.step(branch, ordinal: ordinals[branch.name]!)
                let branchIndex = indexPath + [index]
                switch branch.name {
                case "when":
                    whenCount += 1
                    if sawOtherwise {
                        report(.invalidChild, .error, "<when> after <otherwise> in <choose>", branch, path: branchPath, indexPath: branchIndex)
                    }
                    attributes(branch, rules: table.when, path: branchPath, indexPath: branchIndex)
                case "otherwise":
                    if sawOtherwise {
                        report(.invalidChild, .error, "<choose> has more than one <otherwise>", branch, path: branchPath, indexPath: branchIndex)
                    }
                    sawOtherwise = true
                    checkAttributesAbsent(branch, path: branchPath, indexPath: branchIndex)
                default:
                    report(.invalidChild, .error, "<choose> may contain only <when> and <otherwise>, not <\(branch.name)>", branch, path: branchPath, indexPath: branchIndex)
                    continue
                }
                onceCounts = documentBefore
                sectionOnce = sectionBefore
                policies(branch.elements, section: section, inFragment: inFragment, parentPath: branchPath, indexPath: branchIndex, sectionOnce: &sectionOnce)
                documentAfter.merge(onceCounts, uniquingKeysWith: max)
                sectionAfter.merge(sectionOnce, uniquingKeysWith: max)
            }
            if whenCount == 0 {
                report(.invalidChild, .error, "<choose> needs at least one <when>", element, path: path, indexPath: indexPath)
            }
        }

        mutating func children(
            _ element: XMLElement, rules: [String: PolicyRuleTable.ChildRule], containsPolicies: Bool, section: String?,
            inFragment: Bool, path: String, indexPath: [Int], sectionOnce: inout [String: Int]
        ) {
            if PolicyValidator.freeformContent.contains(element.name) || element.name.contains(":") { return }
            var counts: [String: Int] = [:]
            for (index, child) in element.elements.enumerated() {
                counts[child.name, default: 0] += 1
                let childPath = path + "/" + PolicyPath.step(child, ordinal: counts[child.name]!)
                let childIndex = indexPath + [index]
                guard let rule = rules[child.name] else {
                    if containsPolicies {
                        policy(child, section: section, inFragment: inFragment, path: childPath, indexPath: childIndex, sectionOnce: &sectionOnce)
                    } else {
                        let allowed = rules.keys.sorted()
                        let hint = allowed.isEmpty ? "it takes no child elements" : "allowed: \(allowed.joined(separator: ", "))"
                        report(.invalidChild, .error, "<\(element.name)> cannot contain <\(child.name)>; \(hint)", child, path: childPath, indexPath: childIndex)
                    }
                    continue
                }
                namedValues(child, path: childPath, indexPath: childIndex)
                if counts[child.name] == 2 && !rule.multiple {
                    report(.invalidChild, .error, "<\(element.name)> may contain only one <\(child.name)>", child, path: childPath, indexPath: childIndex)
                }
                if let policyName = rule.policy, let policyRule = table.elements[policyName] {
                    attributes(child, rules: policyRule.attributes, path: childPath, indexPath: childIndex)
                    children(child, rules: policyRule.children ?? [:], containsPolicies: false, section: section, inFragment: inFragment, path: childPath, indexPath: childIndex, sectionOnce: &sectionOnce)
                } else {
                    attributes(child, rules: rule.attributes ?? [:], path: childPath, indexPath: childIndex)
                    children(child, rules: rule.children ?? [:], containsPolicies: false, section: section, inFragment: inFragment, path: childPath, indexPath: childIndex, sectionOnce: &sectionOnce)
                }
            }
            for (name, rule) in rules.sorted(by: { $0.key < $1.key }) where rule.required && counts[name] == nil {
                report(.invalidChild, .error, "<\(element.name)> requires a <\(name)> child", element, path: path, indexPath: indexPath)
            }
        }

        mutating func attributes(
            _ element: XMLElement, rules: [String: PolicyRuleTable.AttributeRule], path: String, indexPath: [Int]
        ) {
            var seen: Set<String> = []
            for attribute in element.attributes {
                if !seen.insert(attribute.name).inserted {
                    report(.unknownAttribute, .error, "attribute \"\(attribute.name)\" repeated on <\(element.name)>", element, path: path, indexPath: indexPath)
                }
                guard let rule = rules[attribute.name] else {
                    let suggestion = rules.keys.map { ($0, editDistance($0, attribute.name)) }.filter { $0.1 <= 2 }
                        .min { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }?.0
                    let hint = suggestion.map { " (did you mean \"\($0)\"?)" } ?? ""
                    report(.unknownAttribute, .error, "<\(element.name)> has no attribute \"\(attribute.name)\"\(hint)", element, path: path, indexPath: indexPath)
                    continue
                }
                value(attribute, rule: rule, element: element, path: path, indexPath: indexPath)
            }
            for (name, rule) in rules.sorted(by: { $0.key < $1.key }) where rule.required == .yes && !seen.contains(name) {
                report(.missingAttribute, .error, "<\(element.name)> requires the attribute \"\(name)\"", element, path: path, indexPath: indexPath)
            }
        }

        mutating func value(
            _ attribute: XMLAttribute, rule: PolicyRuleTable.AttributeRule, element: XMLElement, path: String, indexPath: [Int]
        ) {
            let text = attribute.value.trimmingXMLWhitespace()
            // Expressions and named values are evaluated by APIM at run time.
            if text.isPolicyExpression || text.contains("{{") { return }
            let subject = "\"\(attribute.name)\" on <\(element.name)>"
            switch rule.type {
            case .int, .double, .decimal:
                let number: Double? = rule.type == .int ? Int(text).map(Double.init) : Double(text)
                guard let number else {
                    let kind = rule.type == .int ? "an integer" : "a number"
                    report(.invalidValue, .error, "\(subject) must be \(kind) or a policy expression, got \"\(attribute.value)\"", element, path: path, indexPath: indexPath)
                    return
                }
                if let min = rule.min, number < min {
                    report(.outOfRange, .error, "\(subject) is \(text); the minimum is \(format(min))", element, path: path, indexPath: indexPath)
                }
                if let max = rule.max, number > max {
                    report(.outOfRange, .error, "\(subject) is \(text); the maximum is \(format(max))", element, path: path, indexPath: indexPath)
                }
            case .bool:
                if !["true", "false"].contains(text.lowercased()) {
                    report(.invalidValue, .error, "\(subject) must be true or false, got \"\(attribute.value)\"", element, path: path, indexPath: indexPath)
                }
            case .enumeration:
                if let allowed = rule.enum, !allowed.contains(where: { $0.lowercased() == text.lowercased() }) {
                    report(.invalidValue, .error, "\(subject) must be one of \(allowed.joined(separator: ", ")), got \"\(attribute.value)\"", element, path: path, indexPath: indexPath)
                }
            case .string:
                break
            }
        }

        private func format(_ value: Double) -> String {
            value == value.rounded() ? String(Int(value)) : String(value)
        }

        /// Attribute combinations from the docs' constraints.
        mutating func constraints(_ element: XMLElement, path: String, indexPath: [Int]) {
            let has = { (name: String) in element[attribute: name] != nil }
            switch element.name {
            case "azure-openai-token-limit", "llm-token-limit":
                let quota = has("token-quota"), period = has("token-quota-period")
                if !has("tokens-per-minute") && !(quota && period) {
                    report(.constraint, .error, "<\(element.name)> needs tokens-per-minute, or token-quota with token-quota-period", element, path: path, indexPath: indexPath)
                } else if quota != period {
                    report(.constraint, .error, "<\(element.name)> token-quota and token-quota-period go together", element, path: path, indexPath: indexPath)
                }
            case "quota", "quota-by-key":
                if !has("calls") && !has("bandwidth") {
                    report(.constraint, .error, "<\(element.name)> needs calls, bandwidth or both", element, path: path, indexPath: indexPath)
                }
            case "set-backend-service":
                let targets = ["base-url", "backend-id", "dapr-app-id"].filter(has)
                if targets.count != 1 {
                    report(.constraint, .error, "<set-backend-service> needs exactly one of base-url or backend-id", element, path: path, indexPath: indexPath)
                }
            case "log-to-eventhub":
                if has("partition-id") && has("partition-key") {
                    report(.constraint, .error, "<log-to-eventhub> takes partition-id or partition-key, not both", element, path: path, indexPath: indexPath)
                }
            case "validate-jwt":
                if ["header-name", "query-parameter-name", "token-value"].filter(has).count != 1 {
                    report(.constraint, .error, "<validate-jwt> needs exactly one of header-name, query-parameter-name or token-value", element, path: path, indexPath: indexPath)
                }
            default:
                break
            }
        }

        /// Fragments, backends and named values the element refers to.
        mutating func references(_ element: XMLElement, path: String, indexPath: [Int]) {
            if element.name == "include-fragment", let id = element[attribute: "fragment-id"],
               let fragments = validator.known.fragments, !fragments.contains(id) {
                report(.undefinedFragment, .error, "<include-fragment> refers to fragment \"\(id)\", which is not defined", element, path: path, indexPath: indexPath)
            }
            if element.name == "set-backend-service", let id = element[attribute: "backend-id"], !id.isPolicyExpression,
               !id.contains("{{"), let backends = validator.known.backends, !backends.contains(id) {
                report(.undefinedBackend, .error, "<set-backend-service> refers to backend \"\(id)\", which is not defined", element, path: path, indexPath: indexPath)
            }
            namedValues(element, path: path, indexPath: indexPath)
        }

        /// `{{name}}` references in the element's own attributes and text.
        mutating func namedValues(_ element: XMLElement, path: String, indexPath: [Int]) {
            guard let namedValues = validator.known.namedValues else { return }
            for text in element.attributes.map(\.value) + [element.text] {
                for name in NamedValueReference.names(in: text) where !namedValues.contains(name) {
                    report(.undefinedNamedValue, .error, "<\(element.name)> uses the named value {{\(name)}}, which is not defined", element, path: path, indexPath: indexPath)
                }
            }
        }
    }
}

/// `{{name}}` references inside policy text.
public enum NamedValueReference {
    /// Names referenced as `{{name}}`, in order of appearance.
    public static func names(in text: String) -> [String] {
        var names: [String] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            let after = rest[open.upperBound...]
            guard let close = after.range(of: "}}") else { break }
            let name = after[..<close.lowerBound]
            if !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) {
                names.append(String(name))
            }
            rest = after[close.upperBound...]
        }
        return names
    }
}

/// Readable element paths such as `inbound/choose[1]/when[2]/set-header[@name='x']`.
public enum PolicyPath {
    public static func step(_ element: XMLElement, ordinal: Int) -> String {
        for key in ["name", "id", "fragment-id", "backend-id", "logger-id"] {
            if let value = element[attribute: key], !value.isPolicyExpression {
                return "\(element.name)[@\(key)='\(value)']"
            }
        }
        return "\(element.name)[\(ordinal)]"
    }
}
