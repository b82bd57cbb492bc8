import Foundation

/// What APIM allows for each policy element: sections, scopes, attributes with types, enums and
/// ranges, child elements, and once-only rules. Generated from the policy reference by
/// `scripts/generate-policy-rules.py`.
public struct PolicyRuleTable: Sendable, Decodable {
    public struct AttributeRule: Sendable, Decodable {
        public enum Requirement: String, Sendable, Decodable { case yes, no, conditional }
        public enum ValueType: String, Sendable, Decodable { case string, int, bool, double, decimal
            case enumeration = "enum" }

        public var type: ValueType
        public var required: Requirement
        public var `enum`: [String]?
        public var min: Double?
        public var max: Double?
        /// Present in Microsoft's XSD but not in the documentation.
        public var undocumented: Bool?
    }

    public struct ChildRule: Sendable, Decodable {
        public var required: Bool
        public var multiple: Bool
        public var attributes: [String: AttributeRule]?
        /// The child is itself a policy element whose rules apply.
        public var policy: String?
        public var children: [String: ChildRule]?
        public var text: Bool?
    }

    public struct ElementRule: Sendable, Decodable {
        public var sections: [String]
        public var scopes: [String]
        public var attributes: [String: AttributeRule]
        public var children: [String: ChildRule]?
        /// Children are policies (e.g. `retry`).
        public var containsPolicies: Bool?
        public var text: Bool?
        /// `"section"` or `"document"` when the policy may appear only once there.
        public var once: String?
        public var constraints: [String]?
    }

    public var source: String
    public var elements: [String: ElementRule]
    /// Elements Microsoft's XSD declares but the documentation does not.
    public var undocumented: [String]
    public var when: [String: AttributeRule]

    /// The table generated from the policy reference.
    public static let shared: PolicyRuleTable = {
        do {
            return try JSONDecoder().decode(PolicyRuleTable.self, from: Data(embeddedJSON.utf8))
        } catch {
            fatalError("PolicyRuleData.swift is not valid: \(error). Re-run scripts/generate-policy-rules.py")
        }
    }()

    /// Known policy names closest to `name` (edit distance ≤ 3), best first.
    public func suggestions(for name: String) -> [String] {
        let limit = Swift.max(2, Swift.min(3, name.count / 4))
        var candidates: [(name: String, distance: Int)] = []
        for known in elements.keys {
            let distance = editDistance(known, name)
            if distance <= limit { candidates.append((known, distance)) }
        }
        candidates.sort { $0.distance != $1.distance ? $0.distance < $1.distance : $0.name < $1.name }
        return candidates.prefix(2).map { $0.name }
    }
}

/// Levenshtein distance over Unicode scalars.
func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var previous = Array(0...y.count)
    var current = [Int](repeating: 0, count: y.count + 1)
    for i in 1...x.count {
        current[0] = i
        for j in 1...y.count {
            let cost = x[i - 1] == y[j - 1] ? 0 : 1
            current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
        }
        swap(&previous, &current)
    }
    return previous[y.count]
}
