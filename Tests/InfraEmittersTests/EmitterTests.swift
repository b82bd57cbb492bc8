import GatewayModel
import Testing
@testable import InfraEmitters

@Suite struct EmitterTests {
    @Test func outputIsDeterministicAndClean() throws {
        let first = try InfrastructureEmitter.files(for: SampleGateway.gateway)
        let second = try InfrastructureEmitter.files(for: SampleGateway.gateway)
        #expect(first == second)
        #expect(first.keys.contains("infrastructure/bicep/main.bicep"))
        #expect(first.keys.contains("infrastructure/terraform/versions.tf"))
        for (path, text) in first {
            #expect(text.hasSuffix("\n") && !text.hasSuffix("\n\n"), "\(path): exactly one final newline")
            #expect(!text.contains("\r"), "\(path): LF only")
            #expect(!text.split(separator: "\n").contains { $0.last == " " }, "\(path): no trailing spaces")
        }
    }

    @Test func combinedEmitterIsTheUnionOfBoth() throws {
        let all = try InfrastructureEmitter.files(for: SampleGateway.gateway)
        let bicep = try BicepEmitter.files(for: SampleGateway.gateway)
        let terraform = try TerraformEmitter.files(for: SampleGateway.gateway)
        #expect(all == bicep.merging(terraform) { a, _ in a })
    }

    @Test func oneMoreProductChangesExactlyTheProductFiles() throws {
        let before = try InfrastructureEmitter.files(for: SampleGateway.gateway)
        var gateway = SampleGateway.gateway
        gateway.products.append(Product(id: "team-gamma", apis: ["azure-openai"], budgets: [Budget(amount: Money(50), period: .weekly)]))
        let after = try InfrastructureEmitter.files(for: gateway)
        #expect(Set(before.keys) == Set(after.keys))
        let changed = Set(after.keys.filter { before[$0] != after[$0] })
        #expect(changed == ["infrastructure/bicep/modules/apim-products.bicep", "infrastructure/terraform/apim_products.tf"])
        #expect(after["infrastructure/bicep/modules/apim-products.bicep"]!.contains("loadTextContent('../../../policies/products/team-gamma.xml')"))
        #expect(after["infrastructure/terraform/apim_products.tf"]!.contains("file(\"${path.module}/../../policies/products/team-gamma.xml\")"))
    }

    @Test func poolWithUnknownBackendIsAnErrorNamingThePool() {
        var gateway = SampleGateway.gateway
        gateway.backendPools[0].members.append(.init(backendId: "aoai-missing", priority: 3))
        #expect {
            try InfrastructureEmitter.files(for: gateway)
        } throws: { error in
            guard let error = error as? InfrastructureError else { return false }
            return error.element == "backendPool \"aoai-pool\"" && error.message.contains("aoai-missing")
        }
    }

    @Test func otherReferenceErrorsNameTheElement() {
        func failure(_ change: (inout Gateway) -> Void) -> InfrastructureError? {
            var gateway = SampleGateway.gateway
            change(&gateway)
            do {
                _ = try InfrastructureEmitter.files(for: gateway)
                return nil
            } catch {
                return error as? InfrastructureError
            }
        }
        #expect(failure { $0.apis[0].backend = .pool("nope") }?.element == "api \"azure-openai\"")
        #expect(failure { $0.products[1].apis.append("missing-api") }?.element == "product \"team-beta\"")
        #expect(failure { $0.backendPools.append(BackendPool(id: "nested", members: [.init(backendId: "aoai-pool")])) }?.message.contains("is a pool") == true)
        #expect(failure { $0.backendPools[0].members[0].priority = 101 }?.element == "backendPool \"aoai-pool\"")
        #expect(failure { $0.service.sku = .premiumV2 }?.element == "service \"contoso-ai-apim\"")
        #expect(failure { $0.backends[0].circuitBreaker?.statusCodeRanges = [100...199] }?.element == "backend \"aoai-ptu-eastus\"")
        #expect(failure { $0.backends[2].url = "https://example.com/v1" }?.element == "backend \"aoai-paygo-embeddings\"")
        #expect(failure { $0.provisionedDeployments[0].backendId = "ghost" }?.message.contains("ghost") == true)
        #expect(failure { $0.products[1].subscriptions.append(Subscription(id: "alpha-app")) }?.element == "subscription \"alpha-app\"")
        #expect(failure { $0.provisionedDeployments[0].deployment = "gpt-4o" }?.element == "provisionedDeployment \"gpt-4o\"")
        #expect(failure { $0.apis[1].path = "/openai" }?.message.contains("azure-openai") == true)
        #expect(failure { $0.loggers[0].kind = .eventHub(namespace: "eh", hub: "usage") }?.element == "logger \"usage-eventhub\"")
        // An existing PremiumV2 service is only referenced, so it is fine.
        #expect(failure { $0.service.sku = .premiumV2; $0.service.existing = true } == nil)
    }

    @Test func keyAuthStaysOnOnlyForAccountsReachedWithoutManagedIdentity() throws {
        var gateway = SampleGateway.gateway
        gateway.apis[1].authentication = nil  // embeddings → contoso-paygo-sweden
        let bicep = try #require(try BicepEmitter.files(for: gateway)["infrastructure/bicep/modules/openai.bicep"])
        #expect(bicep.components(separatedBy: "disableLocalAuth: true").count - 1 == 1)
        #expect(bicep.components(separatedBy: "disableLocalAuth: false").count - 1 == 1)
        let tf = try #require(try TerraformEmitter.files(for: gateway)["infrastructure/terraform/openai.tf"])
        #expect(tf.contains("local_auth_enabled            = true"))
    }

    /// The runtime's managed identity (batch calls) and the Azure Monitor PTU gate are switched on
    /// by the generated deployment exactly when there is something for them to reach.
    @Test func runtimeGetsManagedIdentityAndPTUMetricsOnlyWhenNeeded() throws {
        struct Output {
            let runtimeBicep, openAIBicep, runtimeTF, openAITF, mainTF: String
            init(_ gateway: Gateway, options: InfrastructureOptions = .init()) throws {
                let files = try InfrastructureEmitter.files(for: gateway, options: options)
                runtimeBicep = files["infrastructure/bicep/modules/runtime.bicep"] ?? ""
                openAIBicep = files["infrastructure/bicep/modules/openai.bicep"] ?? ""
                runtimeTF = files["infrastructure/terraform/runtime.tf"] ?? ""
                openAITF = files["infrastructure/terraform/openai.tf"] ?? ""
                mainTF = files["infrastructure/terraform/main.tf"] ?? ""
            }
            var managedIdentity: Bool {
                let bicep = runtimeBicep.contains("name: 'TOLLGATE_BACKEND_MANAGED_IDENTITY'\n              value: 'on'")
                let tf = runtimeTF.contains("name  = \"TOLLGATE_BACKEND_MANAGED_IDENTITY\"\n        value = \"on\"")
                #expect(bicep == tf)
                return bicep
            }
            var metrics: Bool {
                let bicep = runtimeBicep.contains("TOLLGATE_PTU_METRICS_RESOURCE_IDS")
                #expect(bicep == runtimeTF.contains("TOLLGATE_PTU_METRICS_RESOURCE_IDS"))
                return bicep
            }
            /// Monitoring Reader assignments (Bicep, Terraform).
            var monitoringReaders: (Int, Int) {
                (openAIBicep.components(separatedBy: "roleDefinitions', monitoringReaderRoleId)").count - 1,
                 openAITF.components(separatedBy: "${local.monitoring_reader_role_id}").count - 1)
            }
        }
        let roleId = "43d0d8ad-25c7-4714-9337-8ba259a9fe05"

        // One provisioned deployment (gpt-4o-ptu on contoso-ptu-eastus) and a pay-as-you-go account.
        let sample = try Output(SampleGateway.gateway)
        #expect(sample.managedIdentity)
        #expect(sample.runtimeBicep.contains(
            "value: 'gpt-4o-ptu=${resourceId('Microsoft.CognitiveServices/accounts', 'contoso-ptu-eastus')}'"))
        #expect(sample.runtimeTF.contains("value = \"gpt-4o-ptu=${azurerm_cognitive_account.contoso_ptu_eastus.id}\""))
        #expect(sample.monitoringReaders == (1, 1))
        #expect(sample.openAIBicep.contains("var monitoringReaderRoleId = '\(roleId)'"))
        #expect(sample.openAIBicep.contains("resource accountContosoPtuEastusRuntimeMonitoringReader "))
        #expect(sample.openAIBicep.contains("scope: accountContosoPtuEastus\n"))
        #expect(sample.openAITF.contains("resource \"azurerm_role_assignment\" \"contoso_ptu_eastus_runtime_monitoring_reader\""))
        #expect(sample.mainTF.contains("monitoring_reader_role_id      = \"\(roleId)\""))

        // Two provisioned deployments on two accounts: one pair each, in model order.
        var twoPTU = SampleGateway.gateway
        twoPTU.backends[1].deployment?.sku = .dataZoneProvisionedManaged
        let both = try Output(twoPTU)
        #expect(both.runtimeTF.contains(
            "value = \"gpt-4o-ptu=${azurerm_cognitive_account.contoso_ptu_eastus.id},gpt-4o=${azurerm_cognitive_account.contoso_paygo_sweden.id}\""))
        #expect(both.runtimeBicep.contains(
            "'gpt-4o-ptu=${resourceId('Microsoft.CognitiveServices/accounts', 'contoso-ptu-eastus')},gpt-4o=${resourceId('Microsoft.CognitiveServices/accounts', 'contoso-paygo-sweden')}'"))
        #expect(both.monitoringReaders == (2, 2))

        // No provisioned deployment: managed identity stays, the metrics setting and Monitoring Reader go.
        var paygoOnly = SampleGateway.gateway
        paygoOnly.backends[0].deployment?.sku = .globalStandard
        paygoOnly.provisionedDeployments = []
        let paygo = try Output(paygoOnly)
        #expect(paygo.managedIdentity)
        #expect(!paygo.metrics)
        #expect(paygo.monitoringReaders == (0, 0))
        #expect(!paygo.openAIBicep.contains("monitoringReaderRoleId"))
        #expect(!paygo.mainTF.contains("monitoring_reader_role_id"))

        // No Azure OpenAI accounts at all: neither setting.
        var noAccounts = paygoOnly
        for index in noAccounts.backends.indices { noAccounts.backends[index].deployment = nil }
        let none = try Output(noAccounts)
        #expect(!none.runtimeBicep.isEmpty && !none.runtimeTF.isEmpty)
        #expect(!none.managedIdentity)
        #expect(!none.metrics)
        #expect(none.openAIBicep.isEmpty && none.openAITF.isEmpty)
        #expect(!none.mainTF.contains("monitoring_reader_role_id"))

        // Runtime not deployed: no runtime module, no Monitoring Reader.
        let external = try Output(SampleGateway.gateway, options: InfrastructureOptions(deployRuntime: false))
        #expect(external.runtimeBicep.isEmpty && external.runtimeTF.isEmpty)
        #expect(external.monitoringReaders == (0, 0))
        #expect(!external.mainTF.contains("monitoring_reader_role_id"))
    }

    @Test func invalidOptionsAreErrors() {
        #expect(throws: InfrastructureError.self) {
            try InfrastructureEmitter.files(for: SampleGateway.gateway, options: InfrastructureOptions(eventHubSku: "Basic"))
        }
        #expect(throws: InfrastructureError.self) {
            try InfrastructureEmitter.files(for: SampleGateway.gateway, options: InfrastructureOptions(runtimeMinReplicas: 3, runtimeMaxReplicas: 2))
        }
    }

    @Test func existingServiceIsReferencedNotCreated() throws {
        let files = try InfrastructureEmitter.files(for: ExistingServiceGateway.gateway, options: ExistingServiceGateway.options)
        let main = try #require(files["infrastructure/bicep/main.bicep"])
        #expect(main.contains("resource apim 'Microsoft.ApiManagement/service@2024-05-01' existing = {"))
        #expect(main.contains("scope: resourceGroup(apimResourceGroupName)"))
        #expect(files["infrastructure/bicep/modules/apim-service.bicep"] == nil)
        #expect(files["infrastructure/bicep/modules/runtime.bicep"] == nil)
        let tf = try #require(files["infrastructure/terraform/main.tf"])
        #expect(tf.contains("data \"azurerm_api_management\" \"main\" {"))
        #expect(!tf.contains("resource \"azurerm_api_management\""))
        let namedValues = try #require(files["infrastructure/terraform/apim_named_values.tf"])
        #expect(namedValues.contains("value               = var.runtime_url"))
    }

    @Test func minimalGatewayEmitsServiceAndGlobalPolicyOnly() throws {
        let gateway = Gateway(name: "m", service: APIMService(name: "m-apim", sku: .consumption))
        let files = try InfrastructureEmitter.files(for: gateway)
        #expect(Set(files.keys) == [
            "infrastructure/bicep/main.bicep", "infrastructure/bicep/modules/apim-service.bicep",
            "infrastructure/bicep/modules/apim-policies.bicep",
            "infrastructure/terraform/versions.tf", "infrastructure/terraform/variables.tf", "infrastructure/terraform/main.tf",
            "infrastructure/terraform/apim_policies.tf", "infrastructure/terraform/outputs.tf",
        ])
        // Consumption runs with capacity 0; publisher details without defaults become required inputs.
        #expect(files["infrastructure/bicep/main.bicep"]!.contains("param apimSkuCapacity int = 0"))
        #expect(files["infrastructure/bicep/main.bicep"]!.contains("param publisherEmail string\n"))
        #expect(files["infrastructure/terraform/variables.tf"]!.contains("default     = \"Consumption\""))
    }

    @Test func poolsCarryNoUrlProtocolOrBreaker() throws {
        let files = try InfrastructureEmitter.files(for: SampleGateway.gateway)
        let bicep = try #require(files["infrastructure/bicep/modules/apim-backends.bicep"])
        let poolStart = try #require(bicep.range(of: "resource poolAoaiPool"))
        let pool = bicep[poolStart.lowerBound...].prefix { _ in true }.split(separator: "\noutput")[0]
        #expect(!pool.contains("url:") && !pool.contains("protocol:") && !pool.contains("circuitBreaker"))
        #expect(bicep.components(separatedBy: "rules: [").count - 1 == 2, "one rules array per single backend with a breaker")
    }

    @Test func largeGatewaysSplitBicepModulesUnderTheResourceLimit() throws {
        let files = try BicepEmitter.files(for: LargeGateway.make(products: 1000, apis: 5))
        let productModules = files.keys.filter { $0.contains("modules/apim-products-") }
        #expect(productModules.count > 1)
        for path in productModules {
            let resources = files[path]!.components(separatedBy: "\nresource ").count - 1
            #expect(resources <= 800, "\(path) has \(resources) resources")
        }
    }
}

@Suite struct RendererTests {
    @Test func bicepStringsAreEscaped() {
        let file = BicepFile([.variable(name: "x", value: .string("it's ${not} a \\ hole\n"), decorators: [])])
        #expect(BicepRenderer.render(file) == "var x = 'it\\'s \\${not} a \\\\ hole\\n'\n")
    }

    @Test func lineBreaksAreEscapedEvenAsCRLF() {
        #expect(BicepRenderer.escape("a\r\nb") == "a\\r\\nb")
        #expect(HCLRenderer.escape("a\r\nb \"q\"") == "a\\r\\nb \\\"q\\\"")
        #expect(HCLRenderer.escape("100%{x} $${y}") == "100%%{x} $$${y}")
    }

    @Test func bicepInterpolationAndObjects() {
        let file = BicepFile([.variable(name: "o", value: .object([
            BicepProperty("name", .interpolated([.expr(.identifier("base")), .literal("-runtime")])),
            BicepProperty("dotted.key", .array([.int(1), .bool(true)])),
            BicepProperty(interpolatedKey: [.expr(.path("identity.id"))], .object([])),
        ]), decorators: [])])
        #expect(BicepRenderer.render(file) == """
        var o = {
          name: '${base}-runtime'
          'dotted.key': [
            1
            true
          ]
          '${identity.id}': {}
        }

        """)
    }

    @Test func hclAlignsRunsAndEscapesTemplates() {
        let file = HCLFile([.block(HCLBlock("resource", ["x", "y"], [
            .attr("name", .string("literal ${not} %{interp}")),
            .attr("resource_group_name", .ref("var.rg")),
            .block(HCLBlock("tls", [], [.attr("a", .bool(true))])),
            .attr("body", .object([HCLAttribute("k", .int(1)), HCLAttribute("longer", .null)])),
        ]))])
        #expect(HCLRenderer.render(file) == """
        resource "x" "y" {
          name                = "literal $${not} %%{interp}"
          resource_group_name = var.rg

          tls {
            a = true
          }
          body = {
            k      = 1
            longer = null
          }
        }

        """)
    }
}

/// No real Bicep compiler or `terraform validate` runs offline, so duplicate declarations (which
/// the schema validators cannot see) are checked here.
@Suite struct SymbolTests {
    static let gateways: [(Gateway, InfrastructureOptions)] = [
        (SampleGateway.gateway, .init()),
        (ExistingServiceGateway.gateway, ExistingServiceGateway.options),
        (LargeGateway.make(products: 3, apis: 2), .init()),
    ]

    @Test(arguments: 0..<3) func bicepSymbolsAreUniquePerFile(index: Int) throws {
        let (gateway, options) = SymbolTests.gateways[index]
        for (path, text) in try BicepEmitter.files(for: gateway, options: options) {
            var seen = Set<String>()
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ")
                guard words.count > 1, ["param", "var", "resource", "module"].contains(words[0]) else { continue }
                #expect(seen.insert(String(words[1])).inserted, "\(path): '\(words[1])' declared twice")
            }
        }
    }

    @Test(arguments: 0..<3) func terraformAddressesAreUnique(index: Int) throws {
        let (gateway, options) = SymbolTests.gateways[index]
        var seen = Set<String>()
        for (path, text) in try TerraformEmitter.files(for: gateway, options: options) {
            for line in text.split(separator: "\n") where !line.hasPrefix(" ") && line.hasSuffix("{") {
                let words = line.split(separator: " ").dropLast()
                guard let kind = words.first, ["resource", "data", "variable", "output"].contains(kind) else { continue }
                let address = words.joined(separator: " ")
                #expect(seen.insert(address).inserted, "\(path): \(address) declared twice")
            }
        }
    }
}
