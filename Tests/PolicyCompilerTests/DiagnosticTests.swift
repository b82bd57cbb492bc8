import Diagnostics
import GatewayDSL
import PolicyCompiler
import Testing

/// Each diagnostic fires on a bad definition and points at the Swift line that declared it.
@Suite struct DiagnosticTests {
    static let file = "PolicyCompilerTests/DiagnosticTests.swift"
    let service = APIMService.existing("apim")

    func diagnostics(_ gateway: Gateway) -> [Diagnostic] { GatewayCompiler().compile(gateway).diagnostics }

    /// Expects exactly one error with `id` at `line` of this file.
    func expectError(_ id: DiagnosticID, at line: Int, in gateway: Gateway, containing text: String? = nil, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        let found = diagnostics(gateway).filter { $0.id == id.rawValue }
        #expect(found.count == 1, "expected one \(id.rawValue), got \(diagnostics(gateway).map(\.rendered))", sourceLocation: sourceLocation)
        guard let diagnostic = found.first else { return }
        #expect(diagnostic.severity == .error, sourceLocation: sourceLocation)
        #expect(diagnostic.location.file == Self.file, sourceLocation: sourceLocation)
        #expect(diagnostic.location.line == line, "\(diagnostic.rendered)", sourceLocation: sourceLocation)
        if let text { #expect(diagnostic.message.contains(text), "\(diagnostic.message)", sourceLocation: sourceLocation) }
        #expect(diagnostic.rendered.hasPrefix("\(Self.file):\(line): error: \(id.rawValue) "), sourceLocation: sourceLocation)
    }

    @Test func unknownElementSuggestsTheRealName() {
        let gateway = Gateway("g", service: service) {
            Product("p") {
                Inbound {
                    CustomPolicy("rate-limit-by-keys", ["calls": "1", "renewal-period": "10", "counter-key": "k"])
                }
            }
        }
        expectError(.unknownElement, at: #line - 4, in: gateway, containing: "did you mean <rate-limit-by-key>")
    }

    @Test func unknownAttributeSuggestsTheRealName() {
        let gateway = Gateway("g", service: service) {
            Product("p") {
                Inbound {
                    CustomPolicy("azure-openai-token-limit", ["counter-key": "@(context.Subscription.Id)", "tokens-per-minute": "10", "estimate-prompt-token": "true"])
                }
            }
        }
        expectError(.unknownAttribute, at: #line - 4, in: gateway, containing: "did you mean \"estimate-prompt-tokens\"")
        // The misspelling also leaves the required attribute missing.
        #expect(diagnostics(gateway).contains { $0.id == DiagnosticID.missingAttribute.rawValue })
    }

    @Test func policyInTheWrongSection() {
        let gateway = Gateway("g", service: service) {
            Inbound {}
            Outbound {
                CustomPolicy("forward-request")
            }
        }
        expectError(.wrongSection, at: #line - 3, in: gateway, containing: "not allowed in <outbound>")
    }

    @Test func policyAtTheWrongScope() {
        let gateway = Gateway("g", service: service) {
            Inbound {
                CustomPolicy("rate-limit", ["calls": "10", "renewal-period": "60"])
            }
        }
        expectError(.wrongScope, at: #line - 3, in: gateway, containing: "global scope")
    }

    @Test func missingRequiredAttribute() {
        let gateway = Gateway("g", service: service) {
            Inbound {
                CustomPolicy("set-variable", ["name": "x"])
            }
        }
        expectError(.missingAttribute, at: #line - 3, in: gateway, containing: "\"value\"")
    }

    @Test func rateLimitRenewalPeriodOver300() {
        let gateway = Gateway("g", service: service) {
            Product("p") {
                Inbound {
                    CustomPolicy("rate-limit", ["calls": "10", "renewal-period": "301"])
                }
            }
        }
        expectError(.outOfRange, at: #line - 4, in: gateway, containing: "maximum is 300")
    }

    @Test func rateLimitByKeyRenewalPeriodOver300FromTypedDSL() {
        let gateway = Gateway("g", service: service) {
            Product("p") {
                RateLimit(calls: 10, per: 600)
            }
        }
        expectError(.outOfRange, at: #line - 3, in: gateway, containing: "maximum is 300")
    }

    @Test func retryCountOutside1To50() {
        let gateway = Gateway("g", service: service) {
            BackendSection {
                RetryOn(condition: "@(true)", count: 51, interval: 1) { CustomPolicy("forward-request") }
            }
        }
        expectError(.outOfRange, at: #line - 3, in: gateway, containing: "maximum is 50")
    }

    @Test func enumValueNotAllowed() {
        let gateway = Gateway("g", service: service) {
            BackendSection {
                CustomPolicy("forward-request", ["http-version": "3"])
            }
        }
        expectError(.invalidValue, at: #line - 3, in: gateway, containing: "must be one of")
    }

    @Test func oncePerDocumentPolicyUsedTwice() {
        let gateway = Gateway("g", service: service) {
            BackendSection {
                CustomPolicy("forward-request")
                CustomPolicy("forward-request")
            }
        }
        expectError(.usedMoreThanOnce, at: #line - 3, in: gateway, containing: "only once per document")
    }

    @Test func tokenLimitNotGreaterThanZero() {
        let gateway = Gateway("g", service: service) {
            Product("p") {
                TokenLimit(perMinute: 0)
            }
        }
        let found = diagnostics(gateway).filter { $0.id == DiagnosticID.invalidLimit.rawValue }
        #expect(found.count == 1)
        #expect(found.first?.location.line == #line - 5)
        // The rule table agrees: tokens-per-minute has a minimum of 1.
        #expect(diagnostics(gateway).contains { $0.id == DiagnosticID.outOfRange.rawValue && $0.location.line == #line - 7 })
    }

    @Test func budgetOfMinusFive() {
        let gateway = Gateway("g", service: service) {
            Runtime(url: "https://tollgate.example.com")
            Product("p") {
                Budget(.monthly, (-5).usd)
            }
        }
        expectError(.invalidBudget, at: #line - 3, in: gateway, containing: "greater than zero")
    }

    @Test func budgetWithoutRuntime() {
        let gateway = Gateway("g", service: service) {
            Product("p") {
                Budget(.monthly, 5.usd)
            }
        }
        expectError(.missingRuntime, at: #line - 3, in: gateway)
    }

    @Test func duplicateProductIds() {
        let gateway = Gateway("g", service: service) {
            Product("team") {}
            Product("team") {}
        }
        expectError(.duplicateID, at: #line - 2, in: gateway, containing: "duplicate product id \"team\"")
    }

    @Test func fragmentContainingBaseAndSections() {
        let gateway = Gateway("g", service: service) {
            Fragment("f") {
                Base()
            }
        }
        expectError(.fragmentStructure, at: #line - 3, in: gateway, containing: "<base />")
        let sectioned = Gateway("g", service: service) {
            Fragment("f") {
                CustomPolicy("inbound")
            }
        }
        expectError(.fragmentStructure, at: #line - 3, in: sectioned, containing: "section <inbound>")
    }

    @Test func fragmentOver32KB() {
        let big = String(repeating: "x", count: 33 * 1024)
        let gateway = Gateway("g", service: service) {
            Fragment("big") {
                SetHeader("x-big", big)
            }
        }
        expectError(.fragmentTooLarge, at: #line - 4, in: gateway, containing: "at most 32768")
    }

    @Test func commentsThatXMLCannotHold() {
        let gateway = Gateway("g", service: service) {
            Inbound {
                Comment(" route by region ")
                When("@(true)", then: {
                    Comment(" a -- b ")
                })
            }
        }
        expectError(.invalidComment, at: #line - 4, in: gateway, containing: "a -- b")
        let trailingDash = Gateway("g", service: service) {
            Fragment("f") {
                CustomPolicy("set-body", content: [.comment("ends in a dash-")])
            }
        }
        expectError(.invalidComment, at: #line - 3, in: trailingDash, containing: "ends in a dash-")
    }

    @Test func commentsAreWrittenWhereTheyWereDeclared() throws {
        let gateway = Gateway("g", service: service) {
            Document("custom/commented.xml", scope: "api", leadingComments: ["\n  Owned by the platform team\n"]) {
                Inbound {
                    Comment(" route by region ")
                    Base()
                    When("@(true)", then: {
                        Comment(" inside the branch ")
                        SetHeader("x-a", "1")
                    })
                }
            }
        }
        let output = GatewayCompiler().compile(gateway)
        #expect(!output.hasErrors, "\(output.diagnostics.map(\.rendered))")
        let text = try #require(output.files["policies/custom/commented.xml"])
        #expect(text.hasPrefix("<!--\n  Owned by the platform team\n-->\n<policies>"))
        #expect(text.contains("<inbound>\n        <!-- route by region -->\n        <base />"), "\(text)")
        #expect(text.contains("<when condition=\"@(true)\">\n                <!-- inside the branch -->\n"), "\(text)")
    }

    @Test func readmeListsEveryDiagnostic() throws {
        let readme = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        for id in DiagnosticID.allCases {
            #expect(readme.contains("\n| \(id.rawValue) | "), "README lacks the row for \(id.rawValue) (\(id.summary))")
        }
    }

    @Test func includeFragmentNotDefined() {
        let gateway = Gateway("g", service: service) {
            Inbound {
                IncludeFragment("nope")
            }
        }
        expectError(.undefinedFragment, at: #line - 3, in: gateway, containing: "\"nope\"")
    }

    @Test func namedValueNotDefined() {
        let gateway = Gateway("g", service: service) {
            NamedValue("known", .plain("v"))
            Inbound {
                SetHeader("x-known", "{{known}}")
                SetHeader("x-unknown", "{{unknown}}")
            }
        }
        expectError(.undefinedNamedValue, at: #line - 3, in: gateway, containing: "{{unknown}}")
    }

    @Test func backendNotDefined() {
        let gateway = Gateway("g", service: service) {
            API("openai", path: "openai", apiVersion: "2024-10-21", backend: .pool("missing-pool"))
        }
        expectError(.undefinedBackend, at: #line - 2, in: gateway, containing: "\"missing-pool\"")
        let member = Gateway("g", service: service) {
            BackendPool("pool") {
                Member("ghost")
            }
        }
        expectError(.undefinedBackend, at: #line - 3, in: member, containing: "\"ghost\"")
    }

    @Test func productIncludesUndefinedAPI() {
        let gateway = Gateway("g", service: service) {
            Product("p") {
                Includes("nope")
            }
        }
        expectError(.undefinedAPI, at: #line - 4, in: gateway)
    }

    @Test func invalidChildAndConstraint() {
        let gateway = Gateway("g", service: service) {
            Inbound {
                CustomPolicy("set-backend-service", ["base-url": "https://a", "backend-id": "b"])
            }
        }
        expectError(.constraint, at: #line - 3, in: gateway, containing: "exactly one of base-url or backend-id")
        let child = Gateway("g", service: service) {
            Inbound {
                CustomPolicy("set-header", ["name": "x"], children: [PolicyNode("valeu", text: "1")])
            }
        }
        expectError(.invalidChild, at: #line - 3, in: child, containing: "cannot contain <valeu>")
    }

    @Test func diagnosticsRenderAsJSON() {
        let gateway = Gateway("g", service: service) {
            Product("team") {}
            Product("team") {}
        }
        let json = DiagnosticRenderer.render(diagnostics(gateway), format: .json)
        #expect(json.contains("\"id\" : \"TG1030\""))
        #expect(json.contains("\"errorCount\" : 1"))
        #expect(json.contains("\"line\" : \(#line - 5)"))
    }
}
