import Foundation
import GatewayRuntime
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite("Runtime routes (real server)") struct RoutesTests {
    @Test(arguments: Backend.allCases) func openRoutes(_ backend: Backend) async throws {
        try await withRuntime(backend) { client in
            #expect(try await client.send(.get, "/health", .none).status == .ok)
            let ready = try await client.send(.get, "/ready", .none)
            #expect(ready.status == .ok && ready.json["status"] as? String == "ready")
            _ = try await client.send(.get, "/health", .none)
            let metrics = try await client.send(.get, "/metrics", .none)
            #expect(metrics.status == .ok)
            #expect(metrics.text.contains("tollgate_http_requests_total"))
        }
    }

    @Test(arguments: Backend.allCases) func credentials(_ backend: Backend) async throws {
        try await withRuntime(backend) { client in
            let product = unique("auth")
            let body = checkBody(unique("r"), product: product)
            // Missing and wrong credentials: 401 with no detail.
            let missing = try await client.send(.post, "/v1/check", .none, body: body)
            #expect(missing.status == .unauthorized)
            #expect(missing.json["message"] as? String == "missing or invalid credentials")
            let wrong = try await client.send(.post, "/v1/check", .raw(HTTPField.Name("X-Tollgate-Key")!, gatewayKey + "x"), body: body)
            #expect(wrong.status == .unauthorized)
            #expect(wrong.text == missing.text)
            let short = try await client.send(.post, "/v1/check", .raw(HTTPField.Name("X-Tollgate-Key")!, "gw"), body: body)
            #expect(short.status == .unauthorized)
            #expect(try await client.send(.post, "/v1/check", .raw(HTTPField.Name("X-Tollgate-Admin-Key")!, "nope"), body: body).status == .unauthorized)
            // The gateway key may not administer.
            #expect(try await client.send(.get, "/v1/products", .gateway).status == .forbidden)
            #expect(try await client.send(.get, "/v1/products", .admin).status == .ok)
            #expect(try await client.send(.post, "/v1/check", .admin, body: body).status == .ok)

            // Entra ID tokens.
            func bearer(_ token: String) -> Credential { .raw(.authorization, "Bearer \(token)") }
            #expect(try await client.send(.post, "/v1/check", bearer(try await token()), body: body).status == .ok)
            #expect(try await client.send(.get, "/v1/products", bearer(try await token())).status == .forbidden)
            #expect(try await client.send(.get, "/v1/products", bearer(try await token(roles: ["Tollgate.Admin"]))).status == .ok)
            let expired = try await token(expires: Date().addingTimeInterval(-60))
            #expect(try await client.send(.post, "/v1/check", bearer(expired), body: body).status == .unauthorized)
            let early = try await token(notBefore: Date().addingTimeInterval(600))
            #expect(try await client.send(.post, "/v1/check", bearer(early), body: body).status == .unauthorized)
            #expect(try await client.send(.post, "/v1/check", bearer(try await token(issuer: "https://evil.example")), body: body).status == .unauthorized)
            #expect(try await client.send(.post, "/v1/check", bearer(try await token(audience: "api://other")), body: body).status == .unauthorized)
            #expect(try await client.send(.post, "/v1/check", bearer("not.a.jwt"), body: body).status == .unauthorized)
            #expect(try await client.send(.post, "/v1/check", .raw(.authorization, "Basic abc"), body: body).status == .unauthorized)
        }
    }

    @Test(arguments: Backend.allCases) func productsCRUD(_ backend: Backend) async throws {
        try await withRuntime(backend) { client in
            let id = unique("team")
            let created = try await client.send(.post, "/v1/products", .admin, body: productBody(id))
            #expect(created.status == .created)
            #expect(created.json["id"] as? String == id)
            #expect(try await client.send(.post, "/v1/products", .admin, body: productBody(id)).status == .conflict)
            let fetched = try await client.send(.get, "/v1/products/\(id)", .admin)
            #expect(fetched.status == .ok)
            #expect(((fetched.json["budgets"] as? [[String: Any]])?.first?["amount"] as? String) == "500.00")
            let updated = try await client.send(.put, "/v1/products/\(id)", .admin, body: productBody(id, amount: "750.50"))
            #expect(updated.status == .ok)
            let list = try await client.send(.get, "/v1/products", .admin)
            let products = list.json["products"] as? [[String: Any]] ?? []
            #expect(products.contains { $0["id"] as? String == id })
            #expect(try await client.send(.get, "/v1/products/\(unique("none"))", .admin).status == .notFound)
            #expect(try await client.send(.put, "/v1/products/\(unique("none"))", .admin, body: productBody("other")).status == .badRequest)

            // Bad input: 400 and nothing stored.
            let negative = unique("neg")
            let minusFive = try await client.send(.post, "/v1/products", .admin, body: productBody(negative, amount: "-5"))
            #expect(minusFive.status == .badRequest)
            #expect((minusFive.json["message"] as? String)?.contains("negative") == true)
            #expect(try await client.send(.get, "/v1/products/\(negative)", .admin).status == .notFound)
            let badUpdate = try await client.send(.put, "/v1/products/\(id)", .admin, body: productBody(id, amount: "-5"))
            #expect(badUpdate.status == .badRequest)
            let after = try await client.send(.get, "/v1/products/\(id)", .admin)
            #expect(((after.json["budgets"] as? [[String: Any]])?.first?["amount"] as? String) == "750.50")
            #expect(try await client.send(.post, "/v1/products", .admin, body: "{\"id\":").status == .badRequest)
            #expect(try await client.send(.post, "/v1/products", .admin, body: #"{"id":"x","budgets":[{"amount":"1e3","period":"daily"}]}"#).status == .badRequest)
            #expect(try await client.send(.post, "/v1/products", .admin, body: #"{"id":"x","budgets":[{"amount":"10","period":"hourly"}]}"#).status == .badRequest)
        }
    }

    @Test(arguments: Backend.allCases) func checkAndUsage(_ backend: Backend) async throws {
        try await withRuntime(backend) { client in
            let product = unique("team")
            // $0.05 budget; a check of 1000 tokens reserves 1000 × $10/1M = $0.01.
            #expect(try await client.send(.post, "/v1/products", .admin, body: productBody(product, amount: "0.05", period: "daily")).status == .created)
            let first = try await client.send(.post, "/v1/check", body: checkBody("r1-\(product)", product: product, tokens: 1000))
            #expect(first.status == .ok)
            #expect(first.json["allowed"] as? Bool == true)
            #expect(first.json["reason"] as? String == "ok")
            #expect(first.json["remaining"] as? String == "0.04")
            #expect((first.json["resetAt"] as? String)?.hasSuffix("T00:00:00Z") == true)

            let usage = try await client.send(.post, "/v1/usage", body: usageBody("r1-\(product)", product: product))
            #expect(usage.status == .ok)
            #expect(usage.json["cost"] as? String == "0.004500")
            #expect(usage.json["duplicate"] as? Bool == false)
            let again = try await client.send(.post, "/v1/usage", body: usageBody("r1-\(product)", product: product, prompt: 99999))
            #expect(again.status == .ok)
            #expect(again.json["duplicate"] as? Bool == true)
            #expect(again.json["cost"] as? String == "0.004500")

            // A per-request price: the rates given replace the table's; malformed rates are a 400.
            let pricedProduct = unique("priced")
            #expect(try await client.send(.post, "/v1/products", .admin, body: productBody(pricedProduct)).status == .created)
            let priced = usageBody("p1-\(pricedProduct)", product: pricedProduct).replacingOccurrences(
                of: #""streaming":false"#, with: #""streaming":false,"price":{"input":"0.00","output":"1.00"}"#)
            let pricedReply = try await client.send(.post, "/v1/usage", body: priced)
            #expect(pricedReply.json["cost"] as? String == "0.000200")
            let negativePrice = priced.replacingOccurrences(of: #""1.00""#, with: #""-1.00""#).replacingOccurrences(of: "p1-", with: "p2-")
            #expect(try await client.send(.post, "/v1/usage", body: negativePrice).status == .badRequest)

            // Spend 0.0045 of 0.05: four more $0.01 checks fit, the fifth does not.
            var allowed = 0
            for index in 0..<5 {
                let reply = try await client.send(.post, "/v1/check", body: checkBody("c\(index)-\(product)", product: product, tokens: 1000))
                if reply.json["allowed"] as? Bool == true { allowed += 1 } else {
                    #expect(reply.json["reason"] as? String == "budget_exhausted")
                }
            }
            #expect(allowed == 4)

            // Unknown product: the check denies, usage is a 404, nothing recorded.
            let unknownCheck = try await client.send(.post, "/v1/check", body: checkBody(unique("r"), product: unique("nope")))
            #expect(unknownCheck.status == .ok && unknownCheck.json["allowed"] as? Bool == false)
            #expect(unknownCheck.json["reason"] as? String == "unknown_product")
            #expect(try await client.send(.post, "/v1/usage", body: usageBody(unique("r"), product: unique("nope"))).status == .notFound)

            // Bad input: each a 400 and no state change.
            let negativeId = unique("neg")
            let negative = try await client.send(.post, "/v1/usage", body: usageBody(negativeId, product: product, prompt: -5))
            #expect(negative.status == .badRequest)
            #expect((negative.json["message"] as? String)?.contains("negative") == true)
            #expect(try await client.send(.post, "/v1/usage", body: "{not json").status == .badRequest)
            #expect(try await client.send(.post, "/v1/usage", body: #"{"requestId":"x"}"#).status == .badRequest)
            #expect(try await client.send(.post, "/v1/check", body: checkBody(unique("r"), product: product, tokens: -1)).status == .badRequest)
            #expect(try await client.send(.post, "/v1/check", body: checkBody(unique("r"), product: product, model: "no-such-model")).status == .badRequest)
            #expect(try await client.send(.post, "/v1/check", body: "[]").status == .badRequest)
            let cached = try await client.send(.post, "/v1/usage", body: usageBody(unique("r"), product: product, prompt: 10, cached: 20))
            #expect(cached.status == .badRequest)

            // The report shows exactly one billed record.
            let report = try await client.send(.get, "/v1/reports/chargeback?groupBy=product&format=json", .admin)
            let rows = report.json["rows"] as? [[String: Any]] ?? []
            let row = rows.first { $0["product"] as? String == product }
            #expect(row?["requests"] as? Int == 1)
            #expect(row?["cost"] as? String == "0.004500")
            #expect(row?["promptTokens"] as? Int == 1000)
        }
    }

    @Test(arguments: Backend.allCases) func rawResponseBodiesAndBatch(_ backend: Backend) async throws {
        try await withRuntime(backend) { client in
            let product = unique("raw")
            #expect(try await client.send(.post, "/v1/products", .admin, body: productBody(product)).status == .created)
            let chat = """
                {"requestId":"chat-\(product)","product":"\(product)","subscription":"s","model":"gpt-4o","streaming":false,
                 "response":{"id":"x","usage":{"prompt_tokens":1000,"completion_tokens":100,"prompt_tokens_details":{"cached_tokens":400},"completion_tokens_details":{"reasoning_tokens":0}}}}
                """
            let chatReply = try await client.send(.post, "/v1/usage", body: chat)
            #expect(chatReply.status == .ok)
            // 600 × 2.5 + 400 × 1.25 + 100 × 10 = 3000 per 1M.
            #expect(chatReply.json["cost"] as? String == "0.003000")
            let responses = """
                {"requestId":"resp-\(product)","product":"\(product)","subscription":"s","model":"gpt-4o","streaming":true,
                 "response":{"object":"response","usage":{"input_tokens":200,"output_tokens":50,"input_tokens_details":{"cached_tokens":0},"output_tokens_details":{"reasoning_tokens":10}}}}
                """
            let responsesReply = try await client.send(.post, "/v1/usage", body: responses)
            #expect(responsesReply.json["cost"] as? String == "0.001000")

            let batch = "{\"records\":[\(usageBody("b1-\(product)", product: product)),\(usageBody("b2-\(product)", product: product)),\(usageBody("chat-\(product)", product: product))]}"
            let batchReply = try await client.send(.post, "/v1/usage:batch", body: batch)
            #expect(batchReply.status == .ok)
            let results = batchReply.json["results"] as? [[String: Any]] ?? []
            #expect(results.map { $0["duplicate"] as? Bool } == [false, false, true])
            // One bad record rejects the whole batch before anything is billed.
            let bad = "[\(usageBody("b3-\(product)", product: product)),\(usageBody("b4-\(product)", product: product, prompt: -1))]"
            let badReply = try await client.send(.post, "/v1/usage:batch", body: bad)
            #expect(badReply.status == .badRequest)
            #expect((badReply.json["message"] as? String)?.hasPrefix("records[1]") == true)
            let csv = try await client.send(.get, "/v1/reports/chargeback?groupBy=product,model&format=csv", .admin)
            #expect(csv.status == .ok)
            let line = csv.text.split(separator: "\n").first { $0.hasPrefix(product + ",") }
            #expect(line == "\(product),gpt-4o,4,3200,550,400,10,0.013000")
        }
    }

    @Test(arguments: Backend.allCases) func chargebackReport(_ backend: Backend) async throws {
        try await withRuntime(backend) { client in
            let product = unique("rep")
            #expect(try await client.send(.post, "/v1/products", .admin, body: productBody(product)).status == .created)
            for index in 0..<7 {
                _ = try await client.send(.post, "/v1/usage", body: usageBody("\(product)-\(index)", product: product, prompt: 333 * (index + 1), completion: 7))
            }
            let today = String(Date().formatted(.iso8601).prefix(10))
            let total = try await client.send(.get, "/v1/reports/chargeback?from=\(today)&groupBy=&format=json", .admin)
            #expect(total.status == .ok)
            let grouped = try await client.send(.get, "/v1/reports/chargeback?from=\(today)&groupBy=product,user,model,day,subscription", .admin)
            let rows = grouped.json["rows"] as? [[String: Any]] ?? []
            let sum = rows.compactMap { Decimal(string: $0["cost"] as? String ?? "") }.reduce(0, +)
            let totalCost = (grouped.json["total"] as? [String: Any])?["cost"] as? String
            #expect(Decimal(string: totalCost ?? "") == sum)
            // Other tests share the database and bill concurrently, so two separate reports may see
            // different totals; within one report the grouping adds up exactly, and this product's
            // rows are all there.
            let mine = rows.filter { $0["product"] as? String == product }
            #expect(mine.compactMap { $0["requests"] as? Int }.reduce(0, +) == 7)
            let mineCost = mine.compactMap { Decimal(string: $0["cost"] as? String ?? "") }.reduce(0, +)
            let ungrouped = Decimal(string: (total.json["total"] as? [String: Any])?["cost"] as? String ?? "") ?? -1
            #expect(mineCost > 0 && ungrouped >= mineCost)
            #expect(try await client.send(.get, "/v1/reports/chargeback?groupBy=colour", .admin).status == .badRequest)
            #expect(try await client.send(.get, "/v1/reports/chargeback?format=xml", .admin).status == .badRequest)
            #expect(try await client.send(.get, "/v1/reports/chargeback?from=yesterday", .admin).status == .badRequest)
            #expect(try await client.send(.get, "/v1/reports/chargeback", .gateway).status == .forbidden)
        }
    }

    @Test(arguments: Backend.allCases) func azureMonitorAlerts(_ backend: Backend) async throws {
        try await withRuntime(backend, alertAction: .block) { client in
            let product = unique("alert")
            #expect(try await client.send(.post, "/v1/products", .admin, body: productBody(product)).status == .created)
            // Malformed and unknown payloads: 400, nothing changed.
            for body in ["{", "[]", #"{"hello":"world"}"#, #"{"schemaId":"azureMonitorCommonAlertSchema","data":{}}"#,
                         #"{"schemaId":"other","data":{"essentials":{}}}"#,
                         #"{"data":{"BudgetName":"\#(product)","SpentAmount":"lots"}}"#]
            {
                let reply = try await client.send(.post, "/v1/alerts/azure-monitor", body: body)
                #expect(reply.status == .badRequest, "\(body)")
            }
            let unknownBudget = try await client.send(.post, "/v1/alerts/azure-monitor", body: costAlert(id: unique("a"), budget: "nobody"))
            #expect(unknownBudget.status == .badRequest)
            #expect(try await client.send(.post, "/v1/check", body: checkBody(unique("r"), product: product)).json["allowed"] as? Bool == true)

            // A Cost Management budget alert blocks the product.
            let alertId = unique("alert-id")
            let fired = try await client.send(.post, "/v1/alerts/azure-monitor", body: costAlert(id: alertId, budget: product))
            #expect(fired.status == .ok)
            #expect(fired.json["action"] as? String == "blocked")
            let denied = try await client.send(.post, "/v1/check", body: checkBody(unique("r"), product: product))
            #expect(denied.json["allowed"] as? Bool == false && denied.json["reason"] as? String == "blocked")
            let repeated = try await client.send(.post, "/v1/alerts/azure-monitor", body: costAlert(id: alertId, budget: product))
            #expect(repeated.json["duplicate"] as? Bool == true)
            // Resolved unblocks.
            let resolved = try await client.send(
                .post, "/v1/alerts/azure-monitor", body: costAlert(id: unique("alert-id"), budget: "tollgate-\(product)", condition: "Resolved"))
            #expect(resolved.json["action"] as? String == "unblocked")
            #expect(try await client.send(.post, "/v1/check", body: checkBody(unique("r"), product: product)).json["allowed"] as? Bool == true)
            // Legacy budget notification shape.
            let legacy = """
                {"schemaId":null,"data":{"SubscriptionName":"x","SubscriptionId":"y","EnrollmentNumber":"","DepartmentName":"",
                 "AccountName":"","BillingAccountId":"","BillingProfileId":"","InvoiceSectionId":"","ResourceGroup":"rg",
                 "SpendingAmount":"","BudgetStartDate":"11/1/2026 12:00:00 AM","Budget":"1000","Unit":"USD",
                 "BudgetCreator":"a@b.c","BudgetName":"\(product)","BudgetType":"Cost","NotificationThresholdAmount":"800",
                 "SpentAmount":"812.55"}}
                """
            let legacyReply = try await client.send(.post, "/v1/alerts/azure-monitor", body: legacy)
            #expect(legacyReply.status == .ok, "\(legacyReply.text)")
        }
    }

    func costAlert(id: String, budget: String, condition: String = "Fired") -> String {
        """
        {"schemaId":"azureMonitorCommonAlertSchema","data":{"essentials":{"monitoringService":"CostAlerts",
         "firedDateTime":"2026-11-22T20:00:00Z","description":"Budget alert","essentialsVersion":"1.0",
         "alertContextVersion":"1.0","alertId":"\(id)","alertRule":"\(budget)","severity":"Sev4","signalType":"Metric",
         "monitorCondition":"\(condition)","alertTargetIDs":["/subscriptions/x"],"configurationItems":["budgets"],"originAlertId":null},
         "alertContext":{"AlertCategory":"budgets","AlertData":{"Scope":"/subscriptions/x","ThresholdType":"Actual",
          "BudgetType":"Cost","BudgetThreshold":"$1,000.00","NotificationThresholdAmount":"$800.00","BudgetName":"\(budget)",
          "BudgetId":"/subscriptions/x/providers/Microsoft.Consumption/budgets/\(budget)","BudgetStartDate":"2026-11-01",
          "BudgetCreator":"a@b.c","Unit":"USD","SpentAmount":"$11,111.00"},"BudgetName":"\(budget)","SpentAmount":"$11,111.00","BudgetThreshold":"$1,000.00"}}}
        """
    }
}

@Suite("Runtime configuration") struct ConfigurationTests {
    func write(_ text: String, in directory: URL) throws -> String {
        let path = directory.appendingPathComponent("runtime-config.json").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func validConfig() throws -> String {
        String(decoding: try JSONEncoder().encode(testConfiguration()), as: UTF8.self)
    }

    func expectError(_ fragment: String, config: String?, environment: [String: String]) async throws {
        try await withTemporaryDirectory { directory in
            let path = try config.map { try write($0, in: directory) } ?? directory.appendingPathComponent("missing.json").path
            do {
                _ = try await RuntimeSettings.load(configPath: path, host: "127.0.0.1", port: 8080, environment: environment)
                Issue.record("expected a configuration error containing \(fragment)")
            } catch let error as ConfigurationError {
                #expect(error.message.contains(fragment), "\(error.message)")
            }
        }
    }

    @Test func startupErrorsAreClear() async throws {
        let keys = ["TOLLGATE_GATEWAY_KEY": gatewayKey, "TOLLGATE_ADMIN_KEY": adminKey]
        try await expectError("cannot read the runtime configuration", config: nil, environment: keys)
        try await expectError("is not valid JSON", config: "{", environment: keys)
        try await expectError("missing field \"pricing\"", config: #"{"version":1,"gateway":"g","gatewayKeyHeader":"a","adminKeyHeader":"b","products":[],"deployments":[]}"#, environment: keys)
        try await expectError("no credentials configured", config: try validConfig(), environment: [:])
        try await expectError("at least 16 characters", config: try validConfig(), environment: ["TOLLGATE_GATEWAY_KEY": "short"])
        try await expectError("TOLLGATE_DATABASE_URL", config: try validConfig(), environment: keys.merging(["TOLLGATE_DATABASE_URL": "mysql://x"]) { $1 })
        try await expectError("TOLLGATE_ENTRA_AUDIENCE", config: try validConfig(), environment: keys.merging(["TOLLGATE_ENTRA_ISSUER": issuer]) { $1 })
        try await expectError("cannot read", config: try validConfig(), environment: keys.merging(["TOLLGATE_ENTRA_ISSUER": issuer, "TOLLGATE_ENTRA_AUDIENCE": audience, "TOLLGATE_ENTRA_JWKS_FILE": "/nonexistent/jwks.json"]) { $1 })
        try await expectError("TOLLGATE_ALERT_ACTION", config: try validConfig(), environment: keys.merging(["TOLLGATE_ALERT_ACTION": "explode"]) { $1 })
        var negative = testConfiguration(products: [.init(id: "p", displayName: "P", budgets: [], defaultEstimatedTokens: 1000, subscriptions: [])])
        negative.products[0].budgets = [.init(amount: .init(-5), period: .daily)]
        try await expectError("must not be negative", config: String(decoding: try JSONEncoder().encode(negative), as: UTF8.self), environment: keys)
    }

    @Test func loadsConfigurationAndEnvironment() async throws {
        try await withTemporaryDirectory { directory in
            let path = try write(try validConfig(), in: directory)
            let jwks = directory.appendingPathComponent("jwks.json")
            try testJWKS().write(to: jwks, atomically: true, encoding: .utf8)
            let settings = try await RuntimeSettings.load(
                configPath: path, host: "0.0.0.0", port: 9000,
                environment: [
                    "TOLLGATE_GATEWAY_KEY": gatewayKey, "TOLLGATE_ADMIN_KEY": adminKey, "TOLLGATE_DATABASE_URL": "postgres://u:p@db/x",
                    "TOLLGATE_ENTRA_ISSUER": issuer, "TOLLGATE_ENTRA_AUDIENCE": audience, "TOLLGATE_ENTRA_JWKS_FILE": jwks.path,
                    "TOLLGATE_WEEK_START": "sunday", "TOLLGATE_MONTH_START_DAY": "15",
                ])
            #expect(settings.databaseURL == "postgres://u:p@db/x")
            #expect(settings.entra?.audience == audience)
            #expect(settings.calendar.firstWeekday == 1 && settings.calendar.monthStartDay == 15)
            let defaults = try await RuntimeSettings.load(
                configPath: path, host: "127.0.0.1", port: 8080, environment: ["TOLLGATE_GATEWAY_KEY": gatewayKey])
            #expect(defaults.databaseURL == "tollgate.db")
        }
    }
}
