import GatewayModel

private func s(_ text: String) -> BicepExpr { .string(text) }
private func id(_ name: String) -> BicepExpr { .identifier(name) }
private func obj(_ properties: [(String, BicepExpr?)]) -> BicepExpr { bicepObject(properties) }
private func interp(_ parts: BicepStringPart...) -> BicepExpr { .interpolated(parts) }

private let apimVersion = InfraPlan.apimAPIVersion
private let openAIVersion = "2026-05-01"
private let eventHubVersion = "2024-01-01"
private let appVersion = "2026-01-01"
private let identityVersion = "2024-11-30"
private let workspaceVersion = "2025-07-01"
private let appInsightsVersion = "2020-02-02"

private func resource(
    _ symbol: String, _ type: String, _ version: String, existing: Bool = false, _ body: [(String, BicepExpr?)]
) -> BicepStatement {
    .resource(BicepResource(symbol: symbol, type: type, apiVersion: version, existing: existing, body: obj(body)))
}

private func output(_ name: String, _ type: BicepType, _ value: BicepExpr, _ description: String) -> BicepStatement {
    .output(name: name, type: type, value: value, decorators: [.description(description)])
}

extension BicepGenerator {
    // MARK: apim-service

    func apimServiceModule() -> BicepFile {
        var statements = BicepGenerator.header("API Management service with a system-assigned identity; TLS 1.0/1.1 and SSL 3.0 disabled.")
        statements += [
            .param(name: "name", type: .string, defaultValue: nil, decorators: [
                .description("Required. Name of the API Management service."), .minLength(1), .maxLength(50),
            ]),
            BicepGenerator.locationParam,
            BicepGenerator.tagsParam,
            .param(name: "skuName", type: .string, defaultValue: s(APIMService.SKU.standardV2.rawValue), decorators: [
                .description("Optional. SKU of the service."), .allowed(InfraPlan.supportedSKUs.map { s($0.rawValue) }),
            ]),
            .param(name: "skuCapacity", type: .int, defaultValue: .int(1), decorators: [
                .description("Optional. Scale units (0 for Consumption)."), .minValue(0), .maxValue(31),
            ]),
            .param(name: "publisherEmail", type: .string, defaultValue: nil, decorators: [
                .description("Required. Publisher e-mail."), .minLength(1),
            ]),
            .param(name: "publisherName", type: .string, defaultValue: nil, decorators: [
                .description("Required. Publisher name."), .minLength(1),
            ]),
        ]
        let protocols = "Microsoft.WindowsAzure.ApiManagement.Gateway.Security"
        statements.append(resource("service", "Microsoft.ApiManagement/service", apimVersion, [
            ("name", id("name")),
            ("location", id("location")),
            ("tags", id("tags")),
            ("sku", obj([("name", id("skuName")), ("capacity", id("skuCapacity"))])),
            ("identity", obj([("type", s("SystemAssigned"))])),
            ("properties", obj([
                ("publisherEmail", id("publisherEmail")),
                ("publisherName", id("publisherName")),
                ("customProperties", obj([
                    ("\(protocols).Protocols.Tls10", s("false")),
                    ("\(protocols).Protocols.Tls11", s("false")),
                    ("\(protocols).Protocols.Ssl30", s("false")),
                    ("\(protocols).Backend.Protocols.Tls10", s("false")),
                    ("\(protocols).Backend.Protocols.Tls11", s("false")),
                    ("\(protocols).Backend.Protocols.Ssl30", s("false")),
                ])),
            ])),
        ]))
        statements += [
            output("name", .string, id("service").dot("name"), "The name of the API Management service."),
            output("resourceId", .string, id("service").dot("id"), "The resource ID of the API Management service."),
            output("principalId", .string, id("service").dot("identity").dot("principalId"), "The principal ID of the system-assigned identity."),
            output("gatewayUrl", .string, id("service").dot("properties").dot("gatewayUrl"), "The gateway URL."),
        ]
        return BicepFile(statements)
    }

    // MARK: monitoring

    func monitoringModule() -> BicepFile {
        var statements = BicepGenerator.header("Log Analytics workspace and the Application Insights components of the gateway's loggers.")
        statements += [
            BicepGenerator.locationParam,
            BicepGenerator.tagsParam,
            .param(name: "workspaceName", type: .string, defaultValue: nil, decorators: [
                .description("Required. Name of the Log Analytics workspace."), .minLength(4), .maxLength(63),
            ]),
            .param(name: "retentionInDays", type: .int, defaultValue: .int(30), decorators: [
                .description("Optional. Log retention in days."), .minValue(30), .maxValue(730),
            ]),
        ]
        let components = plan.appInsightsLoggers.compactMap(\.componentSuffix)
        for suffix in components {
            statements.append(.param(name: SymbolTable.camelName("appInsights", suffix) + "Name", type: .string, defaultValue: nil, decorators: [
                .description("Required. Name of the Application Insights component for logger '\(suffix)'."),
            ]))
        }
        statements.append(resource("workspace", "Microsoft.OperationalInsights/workspaces", workspaceVersion, [
            ("name", id("workspaceName")),
            ("location", id("location")),
            ("tags", id("tags")),
            ("properties", obj([
                ("sku", obj([("name", s("PerGB2018"))])),
                ("retentionInDays", id("retentionInDays")),
            ])),
        ]))
        for suffix in components {
            let symbol = SymbolTable.camelName("appInsights", suffix)
            statements.append(resource(symbol, "Microsoft.Insights/components", appInsightsVersion, [
                ("name", id(symbol + "Name")),
                ("location", id("location")),
                ("tags", id("tags")),
                ("kind", s("web")),
                ("properties", obj([
                    ("Application_Type", s("web")),
                    ("WorkspaceResourceId", id("workspace").dot("id")),
                ])),
            ]))
        }
        statements.append(output("workspaceName", .string, id("workspace").dot("name"), "The name of the Log Analytics workspace."))
        statements.append(output("workspaceResourceId", .string, id("workspace").dot("id"), "The resource ID of the Log Analytics workspace."))
        for suffix in components {
            let symbol = SymbolTable.camelName("appInsights", suffix)
            statements.append(output(symbol + "Name", .string, id(symbol).dot("name"), "The name of the Application Insights component '\(suffix)'."))
        }
        return BicepFile(statements)
    }

    // MARK: runtime

    func runtimeModule() -> BicepFile {
        let port = plan.options.runtimePort
        var statements = BicepGenerator.header("The Tollgate runtime: user-assigned identity, Container Apps environment and Container App.")
        statements += [
            BicepGenerator.locationParam,
            BicepGenerator.tagsParam,
            .param(name: "identityName", type: .string, defaultValue: nil, decorators: [.description("Required. Name of the runtime's user-assigned identity.")]),
            .param(name: "environmentName", type: .string, defaultValue: nil, decorators: [.description("Required. Name of the Container Apps environment.")]),
            .param(name: "appName", type: .string, defaultValue: nil, decorators: [
                .description("Required. Name of the Container App."), .minLength(2), .maxLength(32),
            ]),
            .param(name: "workspaceName", type: .string, defaultValue: nil, decorators: [.description("Required. Log Analytics workspace receiving the environment's logs.")]),
            .param(name: "image", type: .string, defaultValue: nil, decorators: [.description("Required. Container image of the runtime.")]),
            .param(name: "minReplicas", type: .int, defaultValue: .int(1), decorators: [.description("Optional. Minimum replicas."), .minValue(0), .maxValue(30)]),
            .param(name: "maxReplicas", type: .int, defaultValue: .int(1), decorators: [.description("Optional. Maximum replicas."), .minValue(1), .maxValue(30)]),
            .param(name: "databaseUrl", type: .string, defaultValue: nil, decorators: [.secure, .description("Required. TOLLGATE_DATABASE_URL.")]),
            .param(name: "gatewayKey", type: .string, defaultValue: nil, decorators: [.secure, .description("Required. TOLLGATE_GATEWAY_KEY.")]),
            .param(name: "adminKey", type: .string, defaultValue: nil, decorators: [.secure, .description("Required. TOLLGATE_ADMIN_KEY.")]),
            .variable(name: "runtimeConfig", value: .call("loadTextContent", [s(BicepGenerator.fromModule(InfraPlan.runtimeConfigPath))]), decorators: [
                .description("The runtime configuration `tollgate build` wrote next to the infrastructure."),
            ]),
        ]
        statements.append(resource("identity", "Microsoft.ManagedIdentity/userAssignedIdentities", identityVersion, [
            ("name", id("identityName")), ("location", id("location")), ("tags", id("tags")),
        ]))
        statements.append(resource("workspace", "Microsoft.OperationalInsights/workspaces", workspaceVersion, existing: true, [
            ("name", id("workspaceName")),
        ]))
        statements.append(resource("environment", "Microsoft.App/managedEnvironments", appVersion, [
            ("name", id("environmentName")),
            ("location", id("location")),
            ("tags", id("tags")),
            ("properties", obj([
                ("appLogsConfiguration", obj([
                    ("destination", s("log-analytics")),
                    ("logAnalyticsConfiguration", obj([
                        ("customerId", id("workspace").dot("properties").dot("customerId")),
                        ("sharedKey", .methodCall(id("workspace"), "listKeys", []).dot("primarySharedKey")),
                    ])),
                ])),
            ])),
        ]))
        let probe: (String, String) -> BicepExpr = { type, path in
            obj([("type", s(type)), ("httpGet", obj([("path", s(path)), ("port", .int(port))]))])
        }
        var env: [BicepExpr] = [
            obj([("name", s("TOLLGATE_DATABASE_URL")), ("secretRef", s("database-url"))]),
            obj([("name", s("TOLLGATE_GATEWAY_KEY")), ("secretRef", s("gateway-key"))]),
            obj([("name", s("TOLLGATE_ADMIN_KEY")), ("secretRef", s("admin-key"))]),
            obj([("name", s("AZURE_CLIENT_ID")), ("value", id("identity").dot("properties").dot("clientId"))]),
        ]
        // The openai module grants this identity Cognitive Services OpenAI User on every account.
        if plan.runtimeUsesManagedIdentity {
            env.append(obj([("name", s("TOLLGATE_BACKEND_MANAGED_IDENTITY")), ("value", s("on"))]))
        }
        // The coarse PTU gate reads each provisioned deployment's account metrics (Monitoring Reader,
        // granted by the openai module). The ids are built from names: the openai module needs this
        // module's principal id, so referring to its outputs would be a cycle.
        let metrics = plan.runtimeMetricsDeployments
        if !metrics.isEmpty {
            var parts: [BicepStringPart] = []
            for (index, pair) in metrics.enumerated() {
                parts.append(.literal((index == 0 ? "" : ",") + pair.deployment + "="))
                parts.append(.expr(.call("resourceId", [s("Microsoft.CognitiveServices/accounts"), s(pair.account)])))
            }
            env.append(obj([("name", s("TOLLGATE_PTU_METRICS_RESOURCE_IDS")), ("value", .interpolated(parts))]))
        }
        statements.append(resource("app", "Microsoft.App/containerApps", appVersion, [
            ("name", id("appName")),
            ("location", id("location")),
            ("tags", id("tags")),
            ("identity", obj([
                ("type", s("UserAssigned")),
                ("userAssignedIdentities", .object([BicepProperty(interpolatedKey: [.expr(id("identity").dot("id"))], .object([]))])),
            ])),
            ("properties", obj([
                ("managedEnvironmentId", id("environment").dot("id")),
                ("configuration", obj([
                    ("activeRevisionsMode", s("Single")),
                    ("ingress", obj([
                        ("external", .bool(true)),
                        ("targetPort", .int(port)),
                        ("transport", s("http")),
                        ("allowInsecure", .bool(false)),
                    ])),
                    ("secrets", .array([
                        obj([("name", s("database-url")), ("value", id("databaseUrl"))]),
                        obj([("name", s("gateway-key")), ("value", id("gatewayKey"))]),
                        obj([("name", s("admin-key")), ("value", id("adminKey"))]),
                        obj([("name", s("runtime-config")), ("value", id("runtimeConfig"))]),
                    ])),
                ])),
                ("template", obj([
                    ("containers", .array([obj([
                        ("name", s("tollgate-runtime")),
                        ("image", id("image")),
                        ("args", .array(["--config", "/etc/tollgate/runtime-config", "--host", "0.0.0.0", "--port", String(port)].map(s))),
                        ("env", .array(env)),
                        ("resources", obj([("cpu", .call("json", [s("0.5")])), ("memory", s("1Gi"))])),
                        ("probes", .array([probe("Liveness", "/health"), probe("Readiness", "/ready")])),
                        ("volumeMounts", .array([obj([("volumeName", s("config")), ("mountPath", s("/etc/tollgate"))])])),
                    ])])),
                    ("scale", obj([("minReplicas", id("minReplicas")), ("maxReplicas", id("maxReplicas"))])),
                    ("volumes", .array([obj([
                        ("name", s("config")),
                        ("storageType", s("Secret")),
                        ("secrets", .array([obj([("secretRef", s("runtime-config")), ("path", s("runtime-config"))])])),
                    ])])),
                ])),
            ])),
        ]))
        statements += [
            output("name", .string, id("app").dot("name"), "The name of the Container App."),
            output("resourceId", .string, id("app").dot("id"), "The resource ID of the Container App."),
            output("url", .string, interp(.literal("https://"), .expr(id("app").dot("properties").dot("configuration").dot("ingress").dot("fqdn"))), "The HTTPS URL of the runtime."),
            output("principalId", .string, id("identity").dot("properties").dot("principalId"), "The principal ID of the runtime's identity."),
            output("clientId", .string, id("identity").dot("properties").dot("clientId"), "The client ID of the runtime's identity."),
        ]
        return BicepFile(statements)
    }

    // MARK: event-hub

    func eventHubModule() -> BicepFile {
        var statements = BicepGenerator.header("Event Hub namespaces and hubs of the gateway's Event Hub loggers, with send rights for APIM's identity.")
        statements += [
            BicepGenerator.locationParam,
            BicepGenerator.tagsParam,
            .param(name: "skuName", type: .string, defaultValue: s("Standard"), decorators: [
                .description("Optional. SKU of the namespaces."), .allowed([s("Standard"), s("Premium")]),
            ]),
            .param(name: "apimPrincipalId", type: .string, defaultValue: nil, decorators: [.description("Required. Principal ID of APIM's identity (gets Azure Event Hubs Data Sender).")]),
            .variable(name: "dataSenderRoleId", value: s(InfraPlan.eventHubsDataSenderRoleId), decorators: [.description("Azure Event Hubs Data Sender.")]),
        ]
        var symbols = SymbolTable(style: .camel)
        var outputs: [BicepExpr] = []
        for namespace in plan.eventHubNamespaces {
            let symbol = symbols.make("namespace", namespace.name)
            statements.append(resource(symbol, "Microsoft.EventHub/namespaces", eventHubVersion, [
                ("name", s(namespace.name)),
                ("location", id("location")),
                ("tags", id("tags")),
                ("sku", obj([("name", id("skuName")), ("tier", id("skuName")), ("capacity", .int(1))])),
                ("properties", obj([
                    ("minimumTlsVersion", s("1.2")),
                    ("disableLocalAuth", .bool(true)),
                    ("zoneRedundant", .bool(true)),
                ])),
            ]))
            for hub in namespace.hubs {
                statements.append(resource(symbols.make(symbol + "Hub", hub), "Microsoft.EventHub/namespaces/eventhubs", eventHubVersion, [
                    ("parent", id(symbol)),
                    ("name", s(hub)),
                    ("properties", obj([("partitionCount", .int(2)), ("messageRetentionInDays", .int(1))])),
                ]))
            }
            statements.append(BicepGenerator.roleAssignment(
                symbol: symbols.make(symbol, "apim-sender"), scope: symbol, principal: id("apimPrincipalId"), roleVariable: "dataSenderRoleId"))
            outputs.append(id(symbol).dot("id"))
        }
        statements.append(output("resourceIds", .array, .array(outputs), "The resource IDs of the Event Hub namespaces."))
        return BicepFile(statements)
    }

    // MARK: openai

    func openAIModule() -> BicepFile {
        var statements = BicepGenerator.header(plan.runtimeMetricsAccounts.isEmpty
            ? "Azure OpenAI accounts and deployments (standard and provisioned), with Cognitive Services OpenAI User for APIM and the runtime."
            : "Azure OpenAI accounts and deployments (standard and provisioned), with Cognitive Services OpenAI User for APIM and the runtime, and Monitoring Reader for the runtime on accounts with provisioned deployments.")
        statements += [
            BicepGenerator.locationParam,
            BicepGenerator.tagsParam,
            .param(name: "apimPrincipalId", type: .string, defaultValue: nil, decorators: [.description("Required. Principal ID of APIM's identity.")]),
        ]
        let withRuntime = plan.deployedRuntime != nil
        if withRuntime {
            statements.append(.param(name: "runtimePrincipalId", type: .string, defaultValue: nil, decorators: [.description("Required. Principal ID of the runtime's identity.")]))
        }
        statements.append(.variable(name: "openAiUserRoleId", value: s(InfraPlan.openAIUserRoleId), decorators: [.description("Cognitive Services OpenAI User.")]))
        let metricsAccounts = plan.runtimeMetricsAccounts
        if !metricsAccounts.isEmpty {
            statements.append(.variable(name: "monitoringReaderRoleId", value: s(InfraPlan.monitoringReaderRoleId), decorators: [.description("Monitoring Reader.")]))
        }
        var symbols = SymbolTable(style: .camel)
        var endpoints: [BicepExpr] = []
        for account in plan.openAIAccounts {
            let symbol = symbols.make("account", account.name)
            statements.append(resource(symbol, "Microsoft.CognitiveServices/accounts", openAIVersion, [
                ("name", s(account.name)),
                ("location", id("location")),
                ("tags", id("tags")),
                ("kind", s("OpenAI")),
                ("sku", obj([("name", s("S0"))])),
                ("identity", obj([("type", s("SystemAssigned"))])),
                ("properties", obj([
                    ("customSubDomainName", s(account.name)),
                    ("publicNetworkAccess", s("Enabled")),
                    ("disableLocalAuth", .bool(account.disableLocalAuth)),
                ])),
            ]))
            var previous: String?
            for deployment in account.deployments {
                let deploymentSymbol = symbols.make(symbol + "Deployment", deployment.name)
                statements.append(resource(deploymentSymbol, "Microsoft.CognitiveServices/accounts/deployments", openAIVersion, [
                    ("parent", id(symbol)),
                    ("name", s(deployment.name)),
                    ("sku", obj([("name", s(deployment.sku.rawValue)), ("capacity", .int(deployment.capacity))])),
                    ("properties", obj([
                        ("model", obj([("format", s("OpenAI")), ("name", s(deployment.model)), ("version", s(deployment.modelVersion))])),
                        ("versionUpgradeOption", s(deployment.sku.isProvisioned ? "NoAutoUpgrade" : "OnceNewDefaultVersionAvailable")),
                    ])),
                    // One deployment at a time: the account rejects concurrent deployment writes.
                    ("dependsOn", previous.map { .array([id($0)]) }),
                ]))
                previous = deploymentSymbol
            }
            statements.append(BicepGenerator.roleAssignment(
                symbol: symbols.make(symbol, "apim-openai-user"), scope: symbol, principal: id("apimPrincipalId"), roleVariable: "openAiUserRoleId"))
            if withRuntime {
                statements.append(BicepGenerator.roleAssignment(
                    symbol: symbols.make(symbol, "runtime-openai-user"), scope: symbol, principal: id("runtimePrincipalId"), roleVariable: "openAiUserRoleId"))
            }
            if metricsAccounts.contains(account.name) {
                // The runtime's coarse PTU gate reads AzureOpenAIProvisionedManagedUtilizationV2.
                statements.append(BicepGenerator.roleAssignment(
                    symbol: symbols.make(symbol, "runtime-monitoring-reader"), scope: symbol, principal: id("runtimePrincipalId"), roleVariable: "monitoringReaderRoleId"))
            }
            endpoints.append(id(symbol).dot("properties").dot("endpoint"))
        }
        statements.append(output("endpoints", .array, .array(endpoints), "The endpoints of the Azure OpenAI accounts, in declaration order."))
        return BicepFile(statements)
    }

    // MARK: apim-named-values

    func namedValuesModule(secretParams: [(namedValue: String, param: String)]) -> BicepFile {
        var statements = BicepGenerator.header("API Management named values: plain, secret (deployment parameters) and Key Vault references.")
        statements.append(BicepGenerator.apimNameParam())
        for (name, param) in secretParams {
            statements.append(.param(name: param, type: .string, defaultValue: nil, decorators: [.secure, .description("Required. Value of the secret named value '\(name)'.")]))
        }
        for generated in plan.generatedNamedValues {
            switch generated {
            case .runtimeURL:
                statements.append(.param(name: "runtimeUrl", type: .string, defaultValue: nil, decorators: [.description("Required. Base URL of the Tollgate runtime.")]))
            case .gatewayKey:
                statements.append(.param(name: "gatewayKey", type: .string, defaultValue: nil, decorators: [.secure, .description("Required. Key sent to the runtime as \(RuntimeContract.gatewayKeyHeader).")]))
            case .appInsightsConnectionString(_, let suffix):
                statements.append(.param(name: SymbolTable.camelName("appInsights", suffix) + "Name", type: .string, defaultValue: nil, decorators: [.description("Required. Application Insights component whose connection string this named value holds.")]))
            }
        }
        statements.append(BicepGenerator.existingService())
        for generated in plan.generatedNamedValues {
            if case .appInsightsConnectionString(_, let suffix) = generated {
                let symbol = SymbolTable.camelName("appInsights", suffix)
                statements.append(resource(symbol, "Microsoft.Insights/components", appInsightsVersion, existing: true, [("name", id(symbol + "Name"))]))
            }
        }
        // Parameters and resources share Bicep's symbol namespace.
        let parameterNames = secretParams.map(\.param) + ["apimName", "runtimeUrl", "gatewayKey"]
            + plan.appInsightsLoggers.compactMap(\.componentSuffix).flatMap { [SymbolTable.camelName("appInsights", $0), SymbolTable.camelName("appInsights", $0) + "Name"] }
        var symbols = SymbolTable(style: .camel, reserved: ["service"] + parameterNames)
        let secretParam = Dictionary(secretParams.map { ($0.namedValue, $0.param) }, uniquingKeysWith: { first, _ in first })
        for value in plan.namedValues {
            let properties: [(String, BicepExpr?)]
            switch value.value {
            case .plain(let text):
                properties = [("displayName", s(value.name)), ("value", s(text)), ("secret", .bool(false))]
            case .secret:
                properties = [("displayName", s(value.name)), ("value", id(secretParam[value.name]!)), ("secret", .bool(true))]
            case .keyVault(let secretIdentifier, let clientId):
                properties = [
                    ("displayName", s(value.name)),
                    ("secret", .bool(true)),
                    ("keyVault", obj([("secretIdentifier", s(secretIdentifier)), ("identityClientId", clientId.map(s))])),
                ]
            }
            statements.append(resource(symbols.make("namedValue", value.name), "Microsoft.ApiManagement/service/namedValues", apimVersion, [
                ("parent", id("service")),
                ("name", s(value.name)),
                ("properties", obj(properties + [("tags", value.tags.isEmpty ? nil : .array(value.tags.map(s)))])),
            ]))
        }
        for generated in plan.generatedNamedValues {
            let value: BicepExpr
            let secret: Bool
            switch generated {
            case .runtimeURL: value = id("runtimeUrl"); secret = false
            case .gatewayKey: value = id("gatewayKey"); secret = true
            case .appInsightsConnectionString(_, let suffix):
                value = id(SymbolTable.camelName("appInsights", suffix)).dot("properties").dot("ConnectionString")
                secret = true
            }
            statements.append(resource(symbols.make("namedValue", generated.name), "Microsoft.ApiManagement/service/namedValues", apimVersion, [
                ("parent", id("service")),
                ("name", s(generated.name)),
                ("properties", obj([("displayName", s(generated.name)), ("value", value), ("secret", .bool(secret))])),
            ]))
        }
        statements.append(output("names", .array, .array((plan.namedValues.map(\.name) + plan.generatedNamedValues.map(\.name)).map(s)), "The names of the named values."))
        return BicepFile(statements)
    }

    // MARK: apim-loggers

    func loggersModule() -> BicepFile {
        var statements = BicepGenerator.header("API Management loggers (Event Hub through managed identity, Application Insights) and diagnostics.")
        statements.append(BicepGenerator.apimNameParam())
        let components = plan.appInsightsLoggers.compactMap(\.componentSuffix)
        for suffix in components {
            statements.append(.param(name: SymbolTable.camelName("appInsights", suffix) + "Name", type: .string, defaultValue: nil, decorators: [.description("Required. Application Insights component of logger '\(suffix)'.")]))
        }
        statements.append(BicepGenerator.existingService())
        for suffix in components {
            let symbol = SymbolTable.camelName("appInsights", suffix)
            statements.append(resource(symbol, "Microsoft.Insights/components", appInsightsVersion, existing: true, [("name", id(symbol + "Name"))]))
        }
        var symbols = SymbolTable(style: .camel, reserved: ["service"] + components.map { SymbolTable.camelName("appInsights", $0) })
        var loggerSymbols: [String: String] = [:]
        for logger in plan.gateway.loggers {
            let symbol = symbols.make("logger", logger.id)
            loggerSymbols[logger.id] = symbol
            if let eventHub = plan.eventHubLoggers.first(where: { $0.id == logger.id }) {
                statements.append(resource(symbol, "Microsoft.ApiManagement/service/loggers", apimVersion, [
                    ("parent", id("service")),
                    ("name", s(logger.id)),
                    ("properties", obj([
                        ("loggerType", s("azureEventHub")),
                        ("description", s("Event Hub \(eventHub.namespace)/\(eventHub.hub), written with APIM's system-assigned identity")),
                        ("isBuffered", .bool(true)),
                        ("credentials", obj([
                            ("endpointAddress", s("\(eventHub.namespace).servicebus.windows.net")),
                            ("identityClientId", s("SystemAssigned")),
                            ("name", s(eventHub.hub)),
                        ])),
                    ])),
                ]))
            } else if let insights = plan.appInsightsLoggers.first(where: { $0.id == logger.id }) {
                statements.append(resource(symbol, "Microsoft.ApiManagement/service/loggers", apimVersion, [
                    ("parent", id("service")),
                    ("name", s(logger.id)),
                    ("properties", obj([
                        ("loggerType", s("applicationInsights")),
                        ("description", s("Application Insights (connection string in named value \(insights.namedValue))")),
                        ("isBuffered", .bool(true)),
                        ("resourceId", insights.componentSuffix.map { id(SymbolTable.camelName("appInsights", $0)).dot("id") }),
                        ("credentials", obj([("connectionString", s("{{\(insights.namedValue)}}"))])),
                    ])),
                ]))
            }
        }
        if let first = plan.appInsightsLoggers.first, let symbol = loggerSymbols[first.id] {
            // Service-wide diagnostic; `metrics: true` lets azure-openai-emit-token-metric publish.
            statements.append(resource("diagnostic", "Microsoft.ApiManagement/service/diagnostics", apimVersion, [
                ("parent", id("service")),
                ("name", s("applicationinsights")),
                ("properties", obj([
                    ("loggerId", id(symbol).dot("id")),
                    ("alwaysLog", s("allErrors")),
                    ("httpCorrelationProtocol", s("W3C")),
                    ("logClientIp", .bool(false)),
                    ("metrics", .bool(true)),
                    ("verbosity", s("information")),
                    ("sampling", obj([("samplingType", s("fixed")), ("percentage", .int(100))])),
                ])),
            ]))
        }
        statements.append(output("loggerIds", .array, .array(plan.gateway.loggers.compactMap { loggerSymbols[$0.id] }.map { id($0).dot("id") }), "The resource IDs of the loggers."))
        return BicepFile(statements)
    }

    // MARK: apim-backends

    func backendsModule() -> BicepFile {
        var statements = BicepGenerator.header("API Management backends: single Azure OpenAI backends with one circuit-breaker rule each, and priority/weight pools.")
        statements.append(BicepGenerator.apimNameParam())
        statements.append(BicepGenerator.existingService())
        var symbols = SymbolTable(style: .camel, reserved: ["service"])
        var backendSymbols: [String: String] = [:]
        for backend in plan.backends {
            let symbol = symbols.make("backend", backend.id)
            backendSymbols[backend.id] = symbol
            var breaker: BicepExpr?
            if let rule = backend.circuitBreaker {
                breaker = obj([("rules", .array([obj([
                    ("name", s(rule.name)),
                    ("failureCondition", obj([
                        ("count", .int(rule.failureCount)),
                        ("interval", s(InfraPlan.isoDuration(seconds: rule.intervalSeconds))),
                        ("statusCodeRanges", .array(rule.statusCodeRanges.map { obj([("min", .int($0.lowerBound)), ("max", .int($0.upperBound))]) })),
                    ])),
                    ("tripDuration", s(InfraPlan.isoDuration(seconds: rule.tripDurationSeconds))),
                    ("acceptRetryAfter", .bool(rule.acceptRetryAfter)),
                ])]))])
            }
            statements.append(resource(symbol, "Microsoft.ApiManagement/service/backends", apimVersion, [
                ("parent", id("service")),
                ("name", s(backend.id)),
                ("properties", obj([
                    ("type", s("Single")),
                    ("protocol", s("http")),
                    ("url", s(backend.url)),
                    ("description", backend.description.map(s)),
                    ("tls", obj([("validateCertificateChain", .bool(true)), ("validateCertificateName", .bool(true))])),
                    ("circuitBreaker", breaker),
                ])),
            ]))
        }
        for pool in plan.pools {
            let symbol = symbols.make("pool", pool.id)
            backendSymbols[pool.id] = symbol
            statements.append(resource(symbol, "Microsoft.ApiManagement/service/backends", apimVersion, [
                ("parent", id("service")),
                ("name", s(pool.id)),
                ("properties", obj([
                    ("type", s("Pool")),
                    ("description", pool.description.map(s)),
                    ("pool", obj([("services", .array(pool.members.map { member in
                        obj([
                            ("id", id(backendSymbols[member.backendId]!).dot("id")),
                            ("priority", .int(member.priority)),
                            ("weight", .int(member.weight)),
                        ])
                    }))])),
                ])),
            ]))
        }
        let all = plan.backends.map(\.id) + plan.pools.map(\.id)
        statements.append(output("resourceIds", .array, .array(all.map { id(backendSymbols[$0]!).dot("id") }), "The resource IDs of the backends and pools."))
        return BicepFile(statements)
    }

    // MARK: apim-policies

    func policiesModule() -> BicepFile {
        var statements = BicepGenerator.header("Policy fragments and the global (all APIs) policy, loaded from the generated policy files.")
        statements.append(BicepGenerator.apimNameParam())
        statements.append(BicepGenerator.existingService())
        var symbols = SymbolTable(style: .camel, reserved: ["service", "globalPolicy"])
        var fragmentSymbols: [String: String] = [:]
        for fragment in plan.fragments { fragmentSymbols[fragment.id] = symbols.make("fragment", fragment.id) }
        for fragment in plan.fragments {
            let dependsOn = fragment.includedFragments.compactMap { fragmentSymbols[$0] }.filter { $0 != fragmentSymbols[fragment.id] }
            statements.append(resource(fragmentSymbols[fragment.id]!, "Microsoft.ApiManagement/service/policyFragments", apimVersion, [
                ("parent", id("service")),
                ("name", s(fragment.id)),
                ("properties", obj([
                    ("description", fragment.description.map(s)),
                    ("format", s("rawxml")),
                    ("value", .call("loadTextContent", [s(BicepGenerator.fromModule(plan.fragmentPath(fragment)))])),
                ])),
                ("dependsOn", dependsOn.isEmpty ? nil : .array(dependsOn.map(id))),
            ]))
        }
        statements.append(.resource(BicepResource(
            symbol: "globalPolicy", type: "Microsoft.ApiManagement/service/policies", apiVersion: apimVersion,
            body: BicepGenerator.policyBody(parent: "service", path: plan.globalPolicyPath(), dependsOn: plan.fragments.map { fragmentSymbols[$0.id]! }))))
        statements.append(output("fragmentIds", .array, .array(plan.fragments.map { id(fragmentSymbols[$0.id]!).dot("id") }), "The resource IDs of the policy fragments."))
        return BicepFile(statements)
    }

    // MARK: apim-apis

    func apisModule(_ apis: [API]) -> BicepFile {
        var statements = BicepGenerator.header("The Azure OpenAI APIs, their operations and API-scope policies.")
        statements.append(BicepGenerator.apimNameParam())
        statements.append(BicepGenerator.existingService())
        var symbols = SymbolTable(style: .camel, reserved: ["service"])
        var apiSymbols: [String] = []
        for api in apis {
            let symbol = symbols.make("api", api.id)
            apiSymbols.append(symbol)
            var serviceURL: BicepExpr?
            if case .url(let url) = api.backend { serviceURL = s(url) }
            statements.append(resource(symbol, "Microsoft.ApiManagement/service/apis", apimVersion, [
                ("parent", id("service")),
                ("name", s(api.id)),
                ("properties", obj([
                    ("displayName", s(api.displayName)),
                    ("description", s("Azure OpenAI inference API (api-version \(api.apiVersion)).")),
                    ("path", s(api.path)),
                    ("apiType", s("http")),
                    ("type", s("http")),
                    ("protocols", .array([s("https")])),
                    ("serviceUrl", serviceURL),
                    ("subscriptionRequired", .bool(api.subscriptionRequired)),
                    ("subscriptionKeyParameterNames", obj([("header", s("api-key")), ("query", s("api-key"))])),
                ])),
            ]))
            var operationSymbols: [String] = []
            for operation in AzureOpenAIOperation.all {
                let operationSymbol = symbols.make(symbol, operation.id)
                operationSymbols.append(operationSymbol)
                statements.append(resource(operationSymbol, "Microsoft.ApiManagement/service/apis/operations", apimVersion, [
                    ("parent", id(symbol)),
                    ("name", s(operation.id)),
                    ("properties", obj([
                        ("displayName", s(operation.displayName)),
                        ("method", s(operation.method)),
                        ("urlTemplate", s(operation.urlTemplate)),
                        ("templateParameters", .array(operation.templateParameters.map { name in
                            obj([("name", s(name)), ("type", s("string")), ("required", .bool(true))])
                        })),
                    ])),
                ]))
            }
            statements.append(.resource(BicepResource(
                symbol: symbols.make(symbol, "policy"), type: "Microsoft.ApiManagement/service/apis/policies", apiVersion: apimVersion,
                body: BicepGenerator.policyBody(parent: symbol, path: plan.apiPolicyPath(api), dependsOn: operationSymbols))))
        }
        statements.append(output("resourceIds", .array, .array(apiSymbols.map { id($0).dot("id") }), "The resource IDs of the APIs."))
        return BicepFile(statements)
    }

    // MARK: apim-products

    func productsModule(_ products: [Product]) -> BicepFile {
        var statements = BicepGenerator.header("Products, their APIs, product-scope policies and subscriptions.")
        statements.append(BicepGenerator.apimNameParam())
        statements.append(BicepGenerator.existingService())
        var symbols = SymbolTable(style: .camel, reserved: ["service"])
        var productSymbols: [String] = []
        for product in products {
            let symbol = symbols.make("product", product.id)
            productSymbols.append(symbol)
            statements.append(resource(symbol, "Microsoft.ApiManagement/service/products", apimVersion, [
                ("parent", id("service")),
                ("name", s(product.id)),
                ("properties", obj([
                    ("displayName", s(product.displayName)),
                    ("description", product.description.map(s)),
                    ("subscriptionRequired", .bool(product.subscriptionRequired)),
                    ("approvalRequired", product.subscriptionRequired ? .bool(product.approvalRequired) : nil),
                    ("state", s(product.state.rawValue)),
                ])),
            ]))
            for api in product.apis {
                statements.append(resource(symbols.make(symbol + "Api", api), "Microsoft.ApiManagement/service/products/apis", apimVersion, [
                    ("parent", id(symbol)),
                    ("name", s(api)),
                ]))
            }
            statements.append(.resource(BicepResource(
                symbol: symbols.make(symbol, "policy"), type: "Microsoft.ApiManagement/service/products/policies", apiVersion: apimVersion,
                body: BicepGenerator.policyBody(parent: symbol, path: plan.productPolicyPath(product)))))
            for subscription in product.subscriptions {
                statements.append(resource(symbols.make("subscription", subscription.id), "Microsoft.ApiManagement/service/subscriptions", apimVersion, [
                    ("parent", id("service")),
                    ("name", s(subscription.id)),
                    ("properties", obj([
                        ("displayName", s(subscription.displayName)),
                        ("scope", id(symbol).dot("id")),
                        ("ownerId", subscription.owner.map { interp(.expr(id("service").dot("id")), .literal("/users/\($0)")) }),
                        ("state", s("active")),
                        ("allowTracing", .bool(false)),
                    ])),
                ]))
            }
        }
        statements.append(output("resourceIds", .array, .array(productSymbols.map { id($0).dot("id") }), "The resource IDs of the products."))
        return BicepFile(statements)
    }
}
