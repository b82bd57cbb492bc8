#!/usr/bin/env python3
"""Generate Sources/PolicyCompiler/PolicyRuleData.swift from the APIM policy reference.

Usage: scripts/generate-policy-rules.py [../shared/apim-policy-reference.json]

The reference is hand-extracted from Microsoft Learn and the vscode-apimanagement XSDs. Entries that
could not be confirmed against the docs are corrected below (CORRECTIONS) rather than copied blindly;
each correction says why. The output is a JSON document embedded in a Swift string literal so
that the compiler needs no resource bundle at run time.
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared", "apim-policy-reference.json")
TARGET = os.path.join(HERE, "..", "Sources", "PolicyCompiler", "PolicyRuleData.swift")

# Ranges stated in the reference that we enforce, parsed from its "range" text. Entries whose text is
# not a plain bound, or that the reference itself marks as unverified, are replaced here.
RANGE_CORRECTIONS = {
    # The rate-limit-by-key page states "Maximum allowed value: 300 seconds" like rate-limit; the
    # reference only recorded the range for rate-limit.
    ("rate-limit-by-key", "renewal-period"): (1, 300),
    # "0 (infinite) or >=300" is not what the quota pages say (any positive period, 0 = never renews).
    ("quota-by-key", "renewal-period"): (0, None),
    ("quota", "renewal-period"): (0, None),
    # Marked "verify" in the reference: not enforced.
    ("validate-content", "max-size"): None,
    # ">=0; >240 may not be honored": only the lower bound is a rule.
    ("forward-request", "timeout"): (0, None),
}

# Extra lower bounds that follow from the meaning of the value (a limit of 0 tokens or calls is a
# mistake, not a configuration).
EXTRA_RANGES = {
    ("azure-openai-token-limit", "tokens-per-minute"): (1, None),
    ("azure-openai-token-limit", "token-quota"): (1, None),
    ("llm-token-limit", "tokens-per-minute"): (1, None),
    ("llm-token-limit", "token-quota"): (1, None),
    ("rate-limit", "calls"): (1, None),
    ("rate-limit-by-key", "calls"): (1, None),
}

# Requirements that deployed, working policies in ../shared/corpus contradict (APIM accepts the
# element without them), relaxed to optional: (element path, attribute or child).
RELAXED_ATTRIBUTES = {
    ("set-status", "reason"),
}
RELAXED_CHILDREN = {
    ("validate-azure-ad-token", "client-application-ids"),
    ("cors", "allowed-headers"),
}

# Attributes the reference misses on child elements (documented on the policy pages).
EXTRA_CHILD_ATTRIBUTES = {
    ("validate-content", "content-type-map"): ["any-content-type-value", "missing-content-type-value"],
    ("validate-jwt", "decryption-keys/key"): ["id", "certificate-id", "n", "e"],
    ("validate-jwt", "issuer-signing-keys/key"): ["id", "certificate-id", "n", "e"],
}

# Policies that may appear at most once per section or per document (from the docs' usage notes).
ONCE = {
    "forward-request": "document",
    "rate-limit": "document",
    "quota": "document",
    "cors": "section",
    "cache-lookup": "section",
    # The reference notes "only once per policy section (per doc)" for cache-store-value, but the docs
    # state no such rule and deployed policies in the corpus store several values per section.
    "azure-openai-semantic-cache-lookup": "section",
    "azure-openai-semantic-cache-store": "section",
    "llm-semantic-cache-lookup": "section",
    "llm-semantic-cache-store": "section",
}


def parse_range(text):
    text = text.strip()
    m = re.match(r"^(-?[0-9.]+)\s*-\s*(-?[0-9.]+)", text)
    if m:
        return (float(m.group(1)), float(m.group(2)))
    m = re.match(r"^<=\s*([0-9.]+)", text)
    if m:
        return (None, float(m.group(1)))
    m = re.match(r"^>=\s*([0-9.]+)", text)
    if m:
        return (float(m.group(1)), None)
    return None


def attribute_rule(element, name, spec, documented=True):
    xsd = spec.get("xsd") or {}
    kind = spec.get("type") or xsd.get("type") or "string"
    kind = {"long": "int", "positiveInteger": "int", "nonNegativeInteger": "int", "boolean": "bool"}.get(kind, kind)
    if kind not in ("int", "bool", "enum", "double", "decimal"):
        kind = "string"
    rule = {"type": kind}
    required = spec.get("required", False)
    rule["required"] = "yes" if required is True else ("conditional" if required == "conditional" else "no")
    if (element, name) in RELAXED_ATTRIBUTES:
        rule["required"] = "no"
    if not documented:
        rule["required"] = "no"
    values = spec.get("allowed_values") or (xsd.get("allowed") if kind == "enum" else None)
    if values:
        # Union of documented and XSD values: APIM accepts both (e.g. "Indefinite" for token-quota-period).
        merged = list(values)
        for v in xsd.get("allowed") or []:
            if v not in merged:
                merged.append(v)
        rule["enum"] = merged
    bounds = None
    if (element, name) in RANGE_CORRECTIONS:
        bounds = RANGE_CORRECTIONS[(element, name)]
    elif "range" in spec:
        bounds = parse_range(spec["range"])
    if (element, name) in EXTRA_RANGES:
        bounds = EXTRA_RANGES[(element, name)]
    if bounds:
        lo, hi = bounds
        if lo is not None:
            rule["min"] = lo
        if hi is not None:
            rule["max"] = hi
    if not documented:
        rule["undocumented"] = True
    return rule


def children_rules(element, children, elements, root=None, prefix=""):
    root = root or element
    out = {}
    for child, spec in (children or {}).items():
        rule = {
            "required": spec.get("required") is True and (root, prefix + child) not in RELAXED_CHILDREN,
            "multiple": bool(spec.get("multiple", False)),
        }
        attrs = dict(spec.get("attributes") or {})
        for extra in EXTRA_CHILD_ATTRIBUTES.get((root, prefix + child), []):
            attrs.setdefault(extra, {"required": False, "type": "string"})
        if attrs:
            rule["attributes"] = {n: attribute_rule(element + "/" + child, n, a) for n, a in attrs.items()}
        elif child in elements:
            rule["policy"] = child  # the child is itself a policy element; reuse its rules
        if spec.get("children"):
            rule["children"] = children_rules(element + "/" + child, spec["children"], elements, root, prefix + child + "/")
        if "content" in spec:
            rule["text"] = True
        out[child] = rule
    return out


def main():
    with open(SOURCE) as f:
        reference = json.load(f)
    elements = reference["elements"]
    rules = {}
    for name in sorted(elements):
        spec = elements[name]
        attrs = {n: attribute_rule(name, n, a) for n, a in spec.get("attributes", {}).items()}
        for n, a in (spec.get("xsd_only_attributes") or {}).items():
            attrs.setdefault(n, attribute_rule(name, n, a, documented=False))
        rule = {
            "sections": spec.get("sections", []),
            "scopes": spec.get("scopes", []),
            "attributes": attrs,
        }
        if spec.get("children"):
            rule["children"] = children_rules(name, spec["children"], elements)
        if spec.get("contains_policies"):
            rule["containsPolicies"] = True
        if spec.get("content"):
            rule["text"] = True
        if name in ONCE:
            rule["once"] = ONCE[name]
        if spec.get("constraints"):
            rule["constraints"] = spec["constraints"]
        rules[name] = rule
    undocumented = sorted(reference.get("undocumented_elements_from_xsd", {}))
    structural = reference["document"].get("structural_children", {})
    document = {
        "source": "apim-policy-reference.json generated " + reference["_meta"].get("generated", "?"),
        "elements": rules,
        "undocumented": undocumented,
        "when": {"condition": attribute_rule("when", "condition", structural["when"]["attributes"]["condition"])},
    }
    payload = json.dumps(document, sort_keys=True, indent=1)
    assert '"""#' not in payload
    with open(TARGET, "w") as f:
        f.write("// Generated by scripts/generate-policy-rules.py from ../shared/apim-policy-reference.json.\n")
        f.write("// Do not edit by hand: change the script (and its documented corrections) and re-run it.\n\n")
        f.write("extension PolicyRuleTable {\n")
        f.write("    /// The policy rules as JSON.\n")
        f.write('    static let embeddedJSON = #"""\n')
        f.write(payload)
        f.write('\n"""#\n}\n')
    print(f"wrote {TARGET}: {len(rules)} elements")


if __name__ == "__main__":
    main()
