import GatewayModel
import PolicyCompiler
import PolicyXML
import Testing

@Suite struct GoldenTests {
    static func render(_ output: GatewayCompiler.Output) -> String {
        output.files.keys.sorted().filter { $0.hasSuffix(".xml") }.map { "==> \($0) <==\n" + output.files[$0]! }.joined()
    }

    @Test(arguments: Fixtures.all.map(\.name))
    func generatedPoliciesMatchGolden(fixture: String) throws {
        let gateway = Fixtures.all.first { $0.name == fixture }!.gateway
        let output = GatewayCompiler().compile(gateway)
        #expect(output.diagnostics.isEmpty, "\(output.diagnostics.map(\.rendered))")
        try expectGolden(Self.render(output), named: "\(fixture).xml.txt")
    }

    @Test func escapedFormatMatchesGolden() throws {
        let gateway = Fixtures.all.first { $0.name == "budget-callouts" }!.gateway
        let output = GatewayCompiler(format: .escaped).compile(gateway)
        try expectGolden(Self.render(output), named: "budget-callouts.escaped.xml.txt")
    }

    @Test func runtimeConfigurationMatchesGolden() throws {
        let gateway = Fixtures.all.first { $0.name == "budget-callouts" }!.gateway
        try expectGolden(GatewayCompiler.runtimeConfigurationJSON(gateway), named: "budget-callouts.runtime-config.json")
    }

    @Test func compilationIsDeterministic() {
        for (_, gateway) in Fixtures.all {
            #expect(GatewayCompiler().compile(gateway).files == GatewayCompiler().compile(gateway).files)
        }
    }
}
