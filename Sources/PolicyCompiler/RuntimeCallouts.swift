import GatewayModel
import PolicyXML

/// The policy fragments that call the Tollgate runtime: the budget check before a call and the
/// usage settlement after it. Field names come from the shared contract types, so the JSON the
/// policies send is exactly what the runtime decodes.
enum RuntimeCallouts {
    static let budgetCheckFragment = "tollgate-budget-check"
    static let usageReportFragment = "tollgate-usage-report"
    /// Variable the product document sets before including the fragments.
    static let productVariable = "tollgate-product"
    static let relayedVariable = "tollgate-relayed"
    static let decisionVariable = "tollgate-budget-decision"

    static func field(_ key: CheckRequest.CodingKeys) -> String { key.rawValue }
    static func field(_ key: UsageReport.CodingKeys) -> String { key.rawValue }
    static func field(_ key: CheckResponse.CodingKeys) -> String { key.rawValue }

    static let productExpression = "(string)context.Variables[\"\(productVariable)\"]"
    static let subscriptionExpression = "context.Subscription?.Id ?? \"anonymous\""
    static let deploymentExpression = "context.Request.MatchedParameters.GetValueOrDefault(\"deployment-id\", \"\")"
    static var userExpression: String {
        let expression = CounterKey.user.policyExpression
        return String(expression.dropFirst(2).dropLast())
    }

    static func url(_ runtime: RuntimeEndpoint, _ path: String) -> String { "{{\(runtime.urlNamedValue)}}\(path)" }

    static func cacheKey() -> String {
        "@(\"tollgate-budget:\" + \(productExpression) + \":\" + (\(subscriptionExpression)))"
    }

    static func requestHeaders(_ runtime: RuntimeEndpoint) -> [XMLElement] {
        [
            X.header("Content-Type", "application/json"),
            X.header(RuntimeContract.gatewayKeyHeader, "{{\(runtime.keyNamedValue)}}"),
        ]
    }

    /// `<fragment>` that reserves the estimated cost with `POST /v1/check`, caches an allow
    /// decision, and turns a deny into `429` with `Retry-After`.
    static func budgetCheck(_ runtime: RuntimeEndpoint) -> XMLElement {
        let checkBody = """
            @{
                var body = context.Request.Body?.As<JObject>(preserveContent: true);
                var maxTokens = body?["max_completion_tokens"] ?? body?["max_tokens"];
                var promptChars = context.Request.Body?.As<string>(preserveContent: true)?.Length ?? 0;
                var estimate = promptChars / 4 + (maxTokens != null && maxTokens.Type == JTokenType.Integer ? maxTokens.Value<int>() : 0);
                return new JObject(
                    new JProperty("\(field(CheckRequest.CodingKeys.requestId))", context.RequestId.ToString()),
                    new JProperty("\(field(CheckRequest.CodingKeys.product))", \(productExpression)),
                    new JProperty("\(field(CheckRequest.CodingKeys.subscription))", \(subscriptionExpression)),
                    new JProperty("\(field(CheckRequest.CodingKeys.user))", \(userExpression)),
                    new JProperty("\(field(CheckRequest.CodingKeys.model))", \(deploymentExpression)),
                    new JProperty("\(field(CheckRequest.CodingKeys.estimatedTokens))", estimate)
                ).ToString(Newtonsoft.Json.Formatting.None);
            }
            """
        let readDecision =
            "@(context.Variables.GetValueOrDefault<IResponse>(\"tollgate-check-response\")?.StatusCode == 200 ? ((IResponse)context.Variables[\"tollgate-check-response\"]).Body.As<string>() : \"unavailable\")"
        let isAllowed = "JObject.Parse((string)context.Variables[\"\(decisionVariable)\"]).Value<bool>(\"\(field(CheckResponse.CodingKeys.allowed))\")"
        var check: [XMLElement] = [
            X.element("send-request", [
                ("mode", "new"), ("response-variable-name", "tollgate-check-response"),
                ("timeout", String(runtime.timeoutSeconds)), ("ignore-error", "true"),
            ], [
                X.text("set-url", url(runtime, RuntimeContract.checkPath)),
                X.text("set-method", "POST"),
            ] + requestHeaders(runtime) + [X.text("set-body", checkBody)]),
            X.element("set-variable", [("name", decisionVariable), ("value", readDecision)]),
        ]
        if runtime.decisionCacheSeconds > 0 {
            check.append(X.element("choose", [], [
                X.element("when", [("condition", "@((string)context.Variables[\"\(decisionVariable)\"] != \"unavailable\" && \(isAllowed))")], [
                    X.element("cache-store-value", [
                        ("key", cacheKey()), ("value", "@((string)context.Variables[\"\(decisionVariable)\"])"),
                        ("duration", String(runtime.decisionCacheSeconds)),
                    ]),
                ]),
            ]))
        }
        var policies: [XMLElement] = []
        if runtime.decisionCacheSeconds > 0 {
            policies.append(X.element("cache-lookup-value", [("key", cacheKey()), ("variable-name", decisionVariable)]))
            policies.append(X.element("choose", [], [
                X.element("when", [("condition", "@(!context.Variables.ContainsKey(\"\(decisionVariable)\"))")], check),
            ]))
        } else {
            policies.append(contentsOf: check)
        }
        let retryAfter = """
            @{
                var resetAt = JObject.Parse((string)context.Variables["\(decisionVariable)"]).Value<string>("\(field(CheckResponse.CodingKeys.resetAt))");
                DateTime reset;
                if (resetAt == null || !DateTime.TryParse(resetAt, null, System.Globalization.DateTimeStyles.AdjustToUniversal, out reset)) { return "3600"; }
                return Math.Max(1, (int)Math.Ceiling((reset - DateTime.UtcNow).TotalSeconds)).ToString();
            }
            """
        let denyBody = """
            @{
                var decision = JObject.Parse((string)context.Variables["\(decisionVariable)"]);
                return new JObject(new JProperty("error", new JObject(
                    new JProperty("code", decision.Value<string>("\(field(CheckResponse.CodingKeys.reason))")),
                    new JProperty("message", "The budget for this product is exhausted."),
                    new JProperty("remaining", decision.Value<string>("\(field(CheckResponse.CodingKeys.remaining))"))
                ))).ToString(Newtonsoft.Json.Formatting.None);
            }
            """
        var whens: [XMLElement] = []
        if runtime.failureMode == .closed {
            whens.append(X.element("when", [("condition", "@((string)context.Variables[\"\(decisionVariable)\"] == \"unavailable\")")], [
                X.element("return-response", [], [
                    X.element("set-status", [("code", "503"), ("reason", "Budget Service Unavailable")]),
                    X.header("Retry-After", "5"),
                ]),
            ]))
        }
        whens.append(X.element("when", [("condition", "@((string)context.Variables[\"\(decisionVariable)\"] != \"unavailable\" && !\(isAllowed))")], [
            X.element("return-response", [], [
                X.element("set-status", [("code", "429"), ("reason", "Budget Exhausted")]),
                X.header("Retry-After", retryAfter),
                X.header("Content-Type", "application/json"),
                X.text("set-body", denyBody),
            ]),
        ]))
        policies.append(X.element("choose", [], whens))
        return X.element("fragment", [], policies)
    }

    /// `<fragment>` that settles a successful non-streamed call with `POST /v1/usage`.
    static func usageReport(_ runtime: RuntimeEndpoint) -> XMLElement {
        let usageBody = """
            @{
                var body = context.Response.Body.As<JObject>(preserveContent: true);
                return new JObject(
                    new JProperty("\(field(UsageReport.CodingKeys.requestId))", context.RequestId.ToString()),
                    new JProperty("\(field(UsageReport.CodingKeys.product))", \(productExpression)),
                    new JProperty("\(field(UsageReport.CodingKeys.subscription))", \(subscriptionExpression)),
                    new JProperty("\(field(UsageReport.CodingKeys.user))", \(userExpression)),
                    new JProperty("\(field(UsageReport.CodingKeys.api))", context.Api?.Id),
                    new JProperty("\(field(UsageReport.CodingKeys.model))", body?["model"]?.ToString() ?? \(deploymentExpression)),
                    new JProperty("\(field(UsageReport.CodingKeys.deployment))", \(deploymentExpression)),
                    new JProperty("\(field(UsageReport.CodingKeys.streaming))", false),
                    new JProperty("\(field(UsageReport.CodingKeys.response))", new JObject(
                        new JProperty("model", body?["model"]),
                        new JProperty("usage", body?["usage"])))
                ).ToString(Newtonsoft.Json.Formatting.None);
            }
            """
        let condition = "@(context.Response.StatusCode == 200 && !context.Variables.ContainsKey(\"\(relayedVariable)\") && context.Response.Headers.GetValueOrDefault(\"Content-Type\", \"\").Contains(\"application/json\"))"
        return X.element("fragment", [], [
            X.element("choose", [], [
                X.element("when", [("condition", condition)], [
                    X.element("send-one-way-request", [("mode", "new"), ("timeout", String(runtime.timeoutSeconds))], [
                        X.text("set-url", url(runtime, RuntimeContract.usagePath)),
                        X.text("set-method", "POST"),
                    ] + requestHeaders(runtime) + [X.text("set-body", usageBody)]),
                ]),
            ]),
        ])
    }

    /// Inbound policy that sends `"stream": true` calls to the runtime relay instead of the backend.
    static func streamingRoute(_ runtime: RuntimeEndpoint, otherwise: XMLElement) -> XMLElement {
        let isStreaming =
            "@{ try { return context.Request.Body?.As<JObject>(preserveContent: true)?[\"stream\"]?.Value<bool>() ?? false; } catch { return false; } }"
        return X.element("choose", [], [
            X.element("when", [("condition", isStreaming)], [
                X.element("set-variable", [("name", relayedVariable), ("value", "@(true)")]),
                X.element("set-backend-service", [("base-url", url(runtime, RuntimeContract.relayPath))]),
                X.header(RuntimeContract.gatewayKeyHeader, "{{\(runtime.keyNamedValue)}}"),
                X.header("X-Tollgate-Request-Id", "@(context.RequestId.ToString())"),
                X.header("X-Tollgate-Product", "@(context.Variables.GetValueOrDefault<string>(\"\(productVariable)\", context.Product?.Id ?? \"\"))"),
                X.header("X-Tollgate-Subscription", "@(\(subscriptionExpression))"),
            ]),
            X.element("otherwise", [], [otherwise]),
        ])
    }
}
