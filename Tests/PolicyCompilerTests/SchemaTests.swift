import GatewayModel
import PolicyCompiler
import PolicyXML
import Testing

/// Generated policies checked by an outside validator: Microsoft's policy XSDs through libxml2.
@Suite struct SchemaTests {
    /// Microsoft's XSD declares no `<fragment>` root; a fragment is checked as the body of a section.
    static func loadValidator() throws -> SchemaValidator? {
        guard let xsd = TestPaths.shared("apim-xsd/policies.xsd") else { return nil }
        return try SchemaValidator(schemaPath: xsd.path)
    }

    @Test(arguments: Fixtures.all.map(\.name))
    func fixturesValidateAgainstMicrosoftXSD(fixture: String) throws {
        guard let validator = try Self.loadValidator() else { return }
        let output = GatewayCompiler().compile(Fixtures.all.first { $0.name == fixture }!.gateway)
        for document in output.documents {
            let xml = XMLWriter(format: .escaped).write(document.root.schemaView())
            let issues = validator.validate(xml)
            #expect(issues.isEmpty, "\(document.path): \(issues)")
        }
    }

    @Test(arguments: Fixtures.all.map(\.name))
    func escapedFormIsWellFormedXML(fixture: String) {
        let output = GatewayCompiler(format: .escaped).compile(Fixtures.all.first { $0.name == fixture }!.gateway)
        for (path, text) in output.files where path.hasSuffix(".xml") {
            #expect(SchemaValidator.wellFormednessIssues(text).isEmpty, "\(path) is not well-formed")
        }
    }

    @Test func rawFormWithExpressionsIsNotXMLButEscapedFormIs() {
        let output = GatewayCompiler(format: .raw).compile(Fixtures.all.first { $0.name == "budget-callouts" }!.gateway)
        let fragment = output.files["policies/fragments/tollgate-budget-check.xml"]!
        // APIM's raw format keeps C# unescaped (`<`, `"` inside attributes), exactly as APIM exports it.
        #expect(!SchemaValidator.wellFormednessIssues(fragment).isEmpty)
    }

    @Test func validatorRejectsInvalidDocumentsAndDoctype() throws {
        guard let validator = try Self.loadValidator() else { return }
        #expect(!validator.validate("<policies><inbound><rate-limit calls=\"x\" renewal-period=\"60\" /></inbound></policies>").isEmpty)
        #expect(!validator.validate("<policies><inbound><no-such-policy /></inbound></policies>").isEmpty)
        let doctype = "<!DOCTYPE policies [<!ENTITY x \"boom\">]><policies><inbound /></policies>"
        #expect(SchemaValidator.wellFormednessIssues(doctype).first?.message.contains("DOCTYPE") == true)
        #expect(!SchemaValidator.wellFormednessIssues("<policies><inbound></policies>").isEmpty)
    }
}
