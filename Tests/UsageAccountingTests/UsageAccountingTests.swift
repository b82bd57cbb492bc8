import Foundation
import GatewayModel
import Testing
@testable import UsageAccounting

@Suite struct PricingTests {
    let calculator = CostCalculator(table: .azureOpenAIDefault)

    @Test func plainCallUsesInputAndOutputRates() throws {
        // gpt-4o: 2.50 in, 10.00 out per 1M → 1000 in = 0.0025, 200 out = 0.002.
        let cost = try calculator.cost(of: TokenUsage(promptTokens: 1000, completionTokens: 200), model: "gpt-4o")
        #expect(cost.formatted() == "0.004500")
    }

    @Test func cachedTokensArePartOfPromptAtCachedRate() throws {
        // 1000 prompt of which 400 cached: 600 × 2.50 + 400 × 1.25 = 2000 per 1M → 0.002.
        let cost = try calculator.cost(
            of: TokenUsage(promptTokens: 1000, completionTokens: 0, cachedTokens: 400), model: "gpt-4o")
        #expect(cost == Nanos(2_000_000))
    }

    @Test func reasoningTokensAreOutputAndNotAddedTwice() throws {
        let withReasoning = try calculator.cost(
            of: TokenUsage(promptTokens: 10, completionTokens: 500, reasoningTokens: 300), model: "o3-mini")
        let without = try calculator.cost(of: TokenUsage(promptTokens: 10, completionTokens: 500), model: "o3-mini")
        #expect(withReasoning == without)
        // 10 × 1.10 + 500 × 4.40 = 2211 per 1M.
        #expect(withReasoning.formatted() == "0.002211")
    }

    @Test func decimalArithmeticIsExact() throws {
        // 0.1 + 0.2 style sums: 3 × 1 token of gpt-4.1-nano at 0.10 per 1M = 3 × 1e-7.
        var total = Nanos.zero
        for _ in 0..<3 {
            total = total + (try calculator.cost(of: TokenUsage(promptTokens: 1, completionTokens: 0), model: "gpt-4.1-nano"))
        }
        #expect(total == Nanos(300))
        #expect(total.formatted() == "0.0000003")
        #expect(Nanos(rounding: Decimal(string: "0.1")! + Decimal(string: "0.2")!) == Nanos(300_000_000))
    }

    @Test func datedModelVersionsFallBackToTheirFamily() throws {
        #expect(calculator.price(model: "gpt-4o-2024-08-06")?.model == "gpt-4o")
        #expect(calculator.price(model: "gpt-4o-mini-2024-07-18")?.model == "gpt-4o-mini")
        #expect(calculator.price(model: "llama-3") == nil)
        #expect(throws: PricingError.unknownModel("llama-3")) {
            try calculator.cost(of: TokenUsage(promptTokens: 1, completionTokens: 1), model: "llama-3")
        }
    }

    @Test func deploymentTypeSpecificPrice() throws {
        var table = PricingTable.azureOpenAIDefault
        table.prices.append(
            ModelPrice(model: "gpt-4o", deploymentType: "DataZoneStandard", input: 2.75, cachedInput: 1.375, output: 11))
        let calculator = CostCalculator(table: table, deploymentTypes: ["eu-4o": "DataZoneStandard"])
        let cost = try calculator.cost(
            of: TokenUsage(promptTokens: 1_000_000, completionTokens: 0), model: "gpt-4o", deployment: "eu-4o")
        #expect(cost.usd == Decimal(string: "2.75"))
    }

    @Test func invalidCountsAreRejected() {
        #expect(throws: PricingError.self) {
            try calculator.cost(of: TokenUsage(promptTokens: -1, completionTokens: 0), model: "gpt-4o")
        }
        #expect(throws: PricingError.self) {
            try calculator.cost(of: TokenUsage(promptTokens: 5, completionTokens: 0, cachedTokens: 6), model: "gpt-4o")
        }
        #expect(throws: PricingError.self) {
            try calculator.cost(of: TokenUsage(promptTokens: 5, completionTokens: 1, reasoningTokens: 2), model: "gpt-4o")
        }
    }

    @Test func estimateUsesTheHigherRate() throws {
        // 1000 tokens at gpt-4o's output rate 10.00 per 1M.
        #expect(try calculator.estimate(tokens: 1000, model: "gpt-4o") == Nanos(10_000_000))
    }

    @Test func perRequestPriceOverridesReplaceOnlyTheRatesGiven() throws {
        let usage = TokenUsage(promptTokens: 1000, completionTokens: 200, cachedTokens: 400)
        // gpt-4o with a negotiated output rate: 600 × 2.50 + 400 × 1.25 + 200 × 8.00 = 3600 per 1M.
        let partial = try JSONDecoder().decode(PriceOverride.self, from: Data(#"{"output":"8.00"}"#.utf8))
        #expect(try calculator.cost(of: usage, model: "gpt-4o", override: partial) == Nanos(3_600_000))
        // A model the table does not know is priced when every rate is given …
        let complete = PriceOverride(input: 1, cachedInput: Decimal(string: "0.5")!, output: 4)
        #expect(try calculator.cost(of: usage, model: "my-finetune", override: complete) == Nanos(1_600_000))
        #expect(try calculator.estimate(tokens: 1000, model: "my-finetune", override: complete) == Nanos(4_000_000))
        // … and is still unknown when a rate is missing.
        #expect(throws: PricingError.unknownModel("my-finetune")) {
            try calculator.cost(of: usage, model: "my-finetune", override: partial)
        }
    }

    @Test func malformedPriceOverridesAreRejected() {
        for json in [#"{"input":"-1.00"}"#, #"{"input":"cheap"}"#, #"{"input":2.5}"#, "{}"] {
            #expect(throws: DecodingError.self, "\(json)") { try JSONDecoder().decode(PriceOverride.self, from: Data(json.utf8)) }
        }
        let encoded = try? JSONEncoder().encode(PriceOverride(output: Decimal(string: "8.125")!))
        #expect(encoded.map { String(decoding: $0, as: UTF8.self) } == #"{"output":"8.125"}"#)
    }

    @Test func nanosFormatting() {
        #expect(Nanos(4_500_000).formatted() == "0.004500")
        #expect(Nanos(12_340_000_000).formatted(minimumScale: 2) == "12.34")
        #expect(Nanos(1).formatted() == "0.000000001")
        #expect(Nanos(-1_500_000_000).formatted(minimumScale: 2) == "-1.50")
    }
}

@Suite struct UsageExtractionTests {
    func json(_ text: String) throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) }

    @Test func chatCompletionsBody() throws {
        let body = try json(
            """
            {"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":120,"completion_tokens":80,"total_tokens":200,
             "prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":32}}}
            """)
        #expect(
            try UsageExtractor.usage(from: body)
                == TokenUsage(promptTokens: 120, completionTokens: 80, cachedTokens: 64, reasoningTokens: 32))
    }

    @Test func responsesAPIBody() throws {
        let body = try json(
            """
            {"object":"response","usage":{"input_tokens":50,"output_tokens":70,"total_tokens":120,
             "input_tokens_details":{"cached_tokens":10},"output_tokens_details":{"reasoning_tokens":20}}}
            """)
        #expect(
            try UsageExtractor.usage(from: body)
                == TokenUsage(promptTokens: 50, completionTokens: 70, cachedTokens: 10, reasoningTokens: 20))
    }

    @Test func bareUsageObjectAndEmbeddings() throws {
        #expect(try UsageExtractor.usage(from: json(#"{"prompt_tokens":9,"total_tokens":9}"#)) == TokenUsage(promptTokens: 9, completionTokens: 0))
    }

    @Test func rejectsMissingOrNegativeCounts() throws {
        #expect(throws: UsageExtractor.Failure.noUsage) { try UsageExtractor.usage(from: json(#"{"id":"x"}"#)) }
        #expect(throws: UsageExtractor.Failure.self) {
            try UsageExtractor.usage(from: json(#"{"usage":{"prompt_tokens":-3,"completion_tokens":1}}"#))
        }
        #expect(throws: UsageExtractor.Failure.self) {
            try UsageExtractor.usage(from: json(#"{"usage":{"prompt_tokens":"3","completion_tokens":1}}"#))
        }
    }
}

/// The relay's byte-level reader gives what the decoding reader gives, and nil where that throws.
@Suite struct UsageBytesTests {
    static let bodies = [
        #"{"id":"chatcmpl-1","choices":[{"message":{"content":"a \"usage\": {}"}}],"usage":{"prompt_tokens":120,"completion_tokens":80,"total_tokens":200,"prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":32}}}"#,
        #"{"object":"response","usage":{"input_tokens":50,"output_tokens":70,"input_tokens_details":{"cached_tokens":10},"output_tokens_details":{"reasoning_tokens":20}}}"#,
        #"{ "usage" : { "prompt_tokens" : 9 , "total_tokens" : 9, "prompt_tokens_details": null } }"#,
        #"{"usage":{"prompt_tokens":7,"completion_tokens":null,"output_tokens":3}}"#,
    ]
    static let invalid = [
        #"{"id":"x"}"#, #"{"usage":null}"#, #"{"usage":{"prompt_tokens":-3,"completion_tokens":1}}"#,
        #"{"usage":{"prompt_tokens":"3","completion_tokens":1}}"#, #"{"usage":{"prompt_tokens":3.5}}"#,
        #"{"usage":{"prompt_tokens":3,"prompt_tokens_details":{"cached_tokens":true}}}"#, #"{"usage":{"total_tokens":4}}"#,
        #"not json"#, #"{"usage":{"prompt_tokens":3}"#,
    ]

    @Test(arguments: bodies) func agreesWithTheDecodingReader(_ body: String) throws {
        let decoded = try UsageExtractor.usage(from: JSONDecoder().decode(JSONValue.self, from: Data(body.utf8)))
        #expect(UsageExtractor.usage(fromResponseBytes: Array(body.utf8)) == decoded)
    }

    @Test(arguments: invalid) func unusableUsageIsNil(_ body: String) {
        #expect(UsageExtractor.usage(fromResponseBytes: Array(body.utf8)) == nil)
    }
}

@Suite struct BudgetWindowTests {
    func date(_ text: String) -> Date { try! Date(text, strategy: .iso8601) }
    let calendar = PeriodCalendar()

    @Test func calendarPeriodsInUTC() {
        let now = date("2026-11-22T21:45:00Z")  // a Sunday
        #expect(calendar.window(.daily, containing: now).start == date("2026-11-22T00:00:00Z"))
        #expect(calendar.window(.daily, containing: now).end == date("2026-11-23T00:00:00Z"))
        #expect(calendar.window(.weekly, containing: now).start == date("2026-11-16T00:00:00Z"))  // Monday
        #expect(calendar.window(.monthly, containing: now).start == date("2026-11-01T00:00:00Z"))
        #expect(calendar.window(.monthly, containing: now).end == date("2026-12-01T00:00:00Z"))
        #expect(calendar.window(.total, containing: now).end == nil)
    }

    @Test func configurableStarts() {
        let custom = PeriodCalendar(firstWeekday: 1, monthStartDay: 25)
        #expect(custom.window(.weekly, containing: date("2026-11-22T21:45:00Z")).start == date("2026-11-22T00:00:00Z"))
        #expect(custom.window(.monthly, containing: date("2026-11-22T10:00:00Z")).start == date("2026-10-25T00:00:00Z"))
        #expect(custom.window(.monthly, containing: date("2026-12-31T10:00:00Z")).end == date("2027-01-25T00:00:00Z"))
    }

    @Test func countersPerScope() {
        let product = ProductDefinition(
            id: "team-a",
            budgets: [
                Budget(amount: Money(500), period: .monthly, scope: .product),
                Budget(amount: Money(50), period: .daily, scope: .subscription, enforcement: .soft),
                Budget(amount: Money(5), period: .daily, scope: .user),
            ])
        let withUser = BudgetPlan.counters(for: product, subscription: "sub-1", user: "ann", at: date("2026-11-22T10:00:00Z"))
        #expect(withUser.map(\.key) == ["team-a|daily|subscription|sub-1", "team-a|daily|user|ann", "team-a|monthly|product|"])
        #expect(withUser.map(\.hard) == [false, true, true])
        let anonymous = BudgetPlan.counters(for: product, subscription: "sub-1", user: nil, at: date("2026-11-22T10:00:00Z"))
        #expect(anonymous.count == 2)
    }

    @Test func thresholdsFireOnCrossing() {
        let limit = Nanos(100)
        #expect(crossedThresholds([50, 80, 100], limit: limit, before: Nanos(40), after: Nanos(85)) == [50, 80])
        #expect(crossedThresholds([50, 80, 100], limit: limit, before: Nanos(85), after: Nanos(90)) == [])
        #expect(crossedThresholds([50, 80, 100], limit: limit, before: Nanos(90), after: Nanos(100)) == [100])
    }

    @Test func productValidation() throws {
        let negative = try JSONDecoder().decode(
            ProductDefinition.self,
            from: Data(#"{"id":"t","displayName":"T","budgets":[{"amount":"-5","currency":"USD","period":"daily"}]}"#.utf8))
        #expect(!negative.validationErrors().isEmpty)
        let good = try JSONDecoder().decode(
            ProductDefinition.self,
            from: Data(
                #"{"id":"team-a","displayName":"Team A","budgets":[{"amount":"500.00","currency":"USD","period":"monthly","scope":"product","enforcement":"hard","alertThresholds":[50,80,100]}]}"#
                    .utf8))
        #expect(good.validationErrors().isEmpty)
        #expect(good.budgets.first?.amount.amount == 500)
        let encoded = String(decoding: try JSONEncoder().encode(good), as: UTF8.self)
        #expect(encoded.contains(#""amount":"500.00""#))
        #expect(ProductDefinition(id: "bad id!").validationErrors().count == 1)
    }
}
