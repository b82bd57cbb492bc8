import Diagnostics
import Foundation
import PolicyCompiler
import Testing
@testable import TollgateCLI

/// `tollgate validate` on hand-written policy files: seeded faults, one per rule, each with the
/// expected diagnostic id and line.
@Suite struct ValidateTests {
    struct Fault: CustomTestStringConvertible, Sendable {
        var name: String
        var xml: String
        var id: DiagnosticID
        var line: Int
        var scope: PolicyScope? = .api
        var message: String? = nil
        var testDescription: String { name }
    }

    static func policies(_ inbound: String, backend: String = "<base />", outbound: String = "<base />") -> String {
        "<policies>\n<inbound>\n\(inbound)\n</inbound>\n<backend>\n\(backend)\n</backend>\n<outbound>\n\(outbound)\n</outbound>\n<on-error />\n</policies>\n"
    }

    static let faults: [Fault] = [
        Fault(name: "toolkit's estimate-prompt-token", xml: policies(#"<azure-openai-token-limit counter-key="@(context.Subscription.Id)" tokens-per-minute="100" estimate-prompt-token="true" />"#), id: .unknownAttribute, line: 3, message: "estimate-prompt-tokens"),
        Fault(name: "toolkit's invoke-darp-binding", xml: policies(#"<invoke-darp-binding name="b" />"#), id: .unknownElement, line: 3, message: "invoke-dapr-binding"),
        Fault(name: "toolkit's cache-value", xml: policies(#"<cache-value key="k" />"#), id: .unknownElement, line: 3),
        Fault(name: "misspelled policy", xml: policies(#"<set-heder name="x"><value>1</value></set-heder>"#), id: .unknownElement, line: 3, message: "set-header"),
        Fault(name: "policy in wrong section", xml: policies("<base />", outbound: "<forward-request />"), id: .wrongSection, line: 9),
        Fault(name: "inbound-only policy in backend", xml: policies("<base />", backend: #"<rate-limit-by-key calls="1" renewal-period="10" counter-key="k" />"#), id: .wrongSection, line: 6),
        Fault(name: "rate-limit at global scope", xml: policies(#"<rate-limit calls="5" renewal-period="10" />"#), id: .wrongScope, line: 3, scope: .global),
        Fault(name: "missing required attribute", xml: policies(#"<set-variable name="x" />"#), id: .missingAttribute, line: 3, message: "\"value\""),
        Fault(name: "rate-limit renewal over 300", xml: policies(#"<rate-limit calls="5" renewal-period="301" />"#), id: .outOfRange, line: 3, scope: .product),
        Fault(name: "rate-limit-by-key renewal over 300", xml: policies(#"<rate-limit-by-key calls="5" renewal-period="900" counter-key="k" />"#), id: .outOfRange, line: 3),
        Fault(name: "retry count 0", xml: policies("<base />", backend: #"<retry condition="@(true)" count="0" interval="1"><forward-request /></retry>"#), id: .outOfRange, line: 6),
        Fault(name: "retry count 51", xml: policies("<base />", backend: #"<retry condition="@(true)" count="51" interval="1"><forward-request /></retry>"#), id: .outOfRange, line: 6),
        Fault(name: "token limit of zero", xml: policies(#"<azure-openai-token-limit counter-key="k" tokens-per-minute="0" estimate-prompt-tokens="false" />"#), id: .outOfRange, line: 3),
        Fault(name: "integer attribute not a number", xml: policies(#"<rate-limit-by-key calls="many" renewal-period="10" counter-key="k" />"#), id: .invalidValue, line: 3),
        Fault(name: "boolean attribute not a boolean", xml: policies(#"<azure-openai-token-limit counter-key="k" tokens-per-minute="10" estimate-prompt-tokens="yes" />"#), id: .invalidValue, line: 3),
        Fault(name: "enum value not allowed", xml: policies(#"<set-header name="x" exists-action="replace"><value>1</value></set-header>"#), id: .invalidValue, line: 3),
        Fault(name: "token-quota-period lowercase day", xml: policies(#"<llm-token-limit counter-key="k" token-quota="10" token-quota-period="day" estimate-prompt-tokens="true" />"#), id: .invalidValue, line: 3),
        Fault(name: "forward-request twice", xml: policies("<base />", backend: "<forward-request />\n<forward-request />"), id: .usedMoreThanOnce, line: 7),
        Fault(name: "cors twice in a section", xml: policies("<cors><allowed-origins><origin>*</origin></allowed-origins></cors>\n<cors><allowed-origins><origin>*</origin></allowed-origins></cors>"), id: .usedMoreThanOnce, line: 4),
        Fault(name: "fragment with a section", xml: "<fragment>\n<inbound />\n</fragment>\n", id: .fragmentStructure, line: 2, scope: nil),
        Fault(name: "fragment over 32 KB", xml: "<fragment>\n" + String(repeating: "<set-header name=\"x-pad\" exists-action=\"override\"><value>padding</value></set-header>\n", count: 400) + "</fragment>\n", id: .fragmentTooLarge, line: 1, scope: nil, message: "at most 32768"),
        Fault(name: "fragment with base", xml: "<fragment>\n<base />\n</fragment>\n", id: .fragmentStructure, line: 2, scope: nil),
        Fault(name: "token limit without a limit", xml: policies(#"<azure-openai-token-limit counter-key="k" estimate-prompt-tokens="true" />"#), id: .constraint, line: 3),
        Fault(name: "set-backend-service with both targets", xml: policies(#"<set-backend-service base-url="https://a" backend-id="b" />"#), id: .constraint, line: 3),
        Fault(name: "quota without calls or bandwidth", xml: policies(#"<quota-by-key renewal-period="60" counter-key="k" />"#), id: .constraint, line: 3),
        Fault(name: "log-to-eventhub with partition id and key", xml: policies("<base />", outbound: #"<log-to-eventhub logger-id="l" partition-id="1" partition-key="k">x</log-to-eventhub>"#), id: .constraint, line: 9),
        Fault(name: "unknown child element", xml: policies(#"<set-header name="x"><values>1</values></set-header>"#), id: .invalidChild, line: 3),
        Fault(name: "choose without when", xml: policies("<choose>\n<otherwise />\n</choose>"), id: .invalidChild, line: 3),
        Fault(name: "section twice", xml: "<policies>\n<inbound />\n<inbound />\n</policies>\n", id: .invalidChild, line: 3),
        Fault(name: "wrong root", xml: "<policy>\n<inbound />\n</policy>\n", id: .unreadablePolicy, line: 1, scope: nil),
        Fault(name: "unbalanced expression", xml: policies(#"<set-variable name="x" value="@(context.Request.Headers.GetValueOrDefault("a", "b")" />"#), id: .unreadablePolicy, line: 3),
        Fault(name: "mismatched tags", xml: "<policies>\n<inbound>\n<base />\n</outbound>\n</policies>\n", id: .unreadablePolicy, line: 4),
        Fault(name: "doctype", xml: "<!DOCTYPE policies [<!ENTITY e \"x\">]>\n<policies><inbound>&e;</inbound></policies>\n", id: .unreadablePolicy, line: 1, scope: nil),
    ]

    @Test(arguments: faults)
    func seededFaultIsReported(fault: Fault) {
        let diagnostics = ValidateCommand.validate(Array(fault.xml.utf8), path: "seeded.xml", scope: fault.scope)
        let matching = diagnostics.filter { $0.id == fault.id.rawValue }
        #expect(!matching.isEmpty, "expected \(fault.id.rawValue), got \(diagnostics.map(\.rendered))")
        #expect(matching.contains { $0.location.line == fault.line }, "\(matching.map(\.rendered))")
        #expect(matching.allSatisfy { $0.location.file == "seeded.xml" && $0.severity == .error })
        if let message = fault.message {
            #expect(matching.contains { $0.message.contains(message) }, "\(matching.map(\.message))")
        }
        #expect(matching.first.map { $0.rendered.hasPrefix("seeded.xml:\($0.location.line!):") } == true)
    }

    @Test func branchesOfChooseAreMutuallyExclusive() {
        let xml = Self.policies("<base />", backend: "<choose>\n<when condition=\"@(true)\"><forward-request /></when>\n<otherwise><forward-request /></otherwise>\n</choose>")
        #expect(ValidateCommand.validate(Array(xml.utf8), path: "p.xml", scope: .api).isEmpty)
    }

    @Test func generatedExampleOutputIsClean() throws {
        let root = ExampleGatewayTests.packageRoot.appendingPathComponent("policies")
        let set = PolicyFileSet([root.path])
        #expect(set.files.count >= 7)
        for file in set.files {
            let data = try #require(FileManager.default.contents(atPath: file))
            let diagnostics = ValidateCommand.validate(Array(data), path: file, scope: ValidateCommand.inferScope(file))
            #expect(diagnostics.isEmpty, "\(diagnostics.map(\.rendered))")
        }
    }

    @Test func scopeIsInferredFromTheLayout() {
        #expect(ValidateCommand.inferScope("policies/products/team-a.xml") == .product)
        #expect(ValidateCommand.inferScope("apimartifacts/apis/echo/operations/get/policy.xml") == .operation)
        #expect(ValidateCommand.inferScope("apimartifacts/apis/echo/policy.xml") == .api)
        #expect(ValidateCommand.inferScope("policies/global.xml") == .global)
        #expect(ValidateCommand.inferScope("somewhere/policy.xml") == nil)
    }
}
