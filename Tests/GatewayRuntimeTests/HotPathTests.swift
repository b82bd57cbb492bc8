import Foundation
import GatewayModel
import Hummingbird
import Logging
import NIOCore
import RuntimeStorage
import Testing
@testable import GatewayRuntime
import UsageAccounting

/// The shortcuts on the `/v1/check` path give exactly what the general code gives.
@Suite("Check hot path") struct HotPathTests {
    @Test func checkAnswersAreTheBytesJSONEncoderWrites() throws {
        let answers = [
            CheckResponse(allowed: true, reason: .ok, remaining: "499.988", resetAt: "2026-12-01T00:00:00Z"),
            CheckResponse(allowed: false, reason: .budgetExhausted, remaining: "0.00", resetAt: nil),
            CheckResponse(allowed: false, reason: .unknownProduct, remaining: "a/b\"c\\d\n\t\r\u{8}\u{c}\u{1}\u{1f}é€😀", resetAt: "x"),
        ]
        for answer in answers {
            #expect(String(buffer: jsonBytes(answer)) == String(decoding: try jsonEncoder.encode(answer), as: UTF8.self))
            #expect(json(answer).headers[.contentType] == "application/json; charset=utf-8")
        }
    }

    /// Whenever the direct reader accepts a body, JSONDecoder reads the same request from it.
    @Test func theCheckReaderAgreesWithJSONDecoder() throws {
        let bodies = [
            #"{"requestId":"r1","product":"team-a","subscription":"sub-1","user":"ann","model":"gpt-4o","estimatedTokens":1200}"#,
            #" { "model" : "gpt-4o" , "requestId":"r","product":"p","subscription":"s" } "#,
            #"{"requestId":"r","product":"p","subscription":"s","model":"m","user":null,"estimatedTokens":null}"#,
            #"{"requestId":"ü€😀","product":"p","subscription":"s","model":"m","estimatedTokens":-5}"#,
            #"{"requestId":"r","product":"p","subscription":"s","model":"m","estimatedTokens":0}"#,
            #"{"requestId":"a\"b","product":"p","subscription":"s","model":"m"}"#,
            #"{"requestId":"r","product":"p","subscription":"s","model":"m","extra":1}"#,
            #"{"requestId":"r","requestId":"q","product":"p","subscription":"s","model":"m"}"#,
            #"{"requestId":"r","product":"p","subscription":"s","model":"m","estimatedTokens":1.5}"#,
            #"{"requestId":"r","product":"p","subscription":"s","model":"m","estimatedTokens":012}"#,
            #"{"requestId":"r","product":"p","subscription":"s","model":"m","estimatedTokens":99999999999999999999}"#,
            #"{"requestId":"r","product":"p","subscription":"s"}"#,
            #"{"requestId":"r","product":null,"subscription":"s","model":"m"}"#,
            #"{"requestId":"r","product":"p","subscription":"s","model":"m"} x"#,
            #"{"requestId":"r","product":"p","subscription":"s","model":"m",}"#,
            "", "{", "[]", "null",
        ]
        var accepted = 0
        func agree(_ bytes: [UInt8]) {
            let fast = bytes.withUnsafeBytes { CheckRequestParser.parse(bytes: $0) }
            guard let fast else { return }
            accepted += 1
            let slow = try? JSONDecoder().decode(CheckRequest.self, from: Data(bytes))
            #expect(slow == fast, "\(String(decoding: bytes, as: UTF8.self))")
        }
        for body in bodies { agree(Array(body.utf8)) }
        #expect(accepted == 5)
        // Mutations of a valid body: a changed, dropped or inserted byte.
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array(#"{}[]",:0123456789-.\ntrulnfaxé "#.utf8) + [0x0A, 0x01]
        let base = Array(bodies[0].utf8)
        for _ in 0..<3000 {
            var bytes = base
            let position = Int.random(in: 0..<bytes.count, using: &generator)
            switch Int.random(in: 0..<3, using: &generator) {
            case 0: bytes[position] = alphabet.randomElement(using: &generator)!
            case 1: bytes.remove(at: position)
            default: bytes.insert(alphabet.randomElement(using: &generator)!, at: position)
            }
            agree(bytes)
        }
        #expect(CheckRequestParser.parse(ByteBuffer(string: bodies[0])) != nil)
    }

    @Test func integerEstimatesEqualTheDecimalOnes() throws {
        var pricing = PricingTable.azureOpenAIDefault
        // A rate that is not a whole number of nano-dollars per token takes the Decimal path.
        pricing.prices.append(
            ModelPrice(model: "odd-model", input: Decimal(string: "0.0375")!, cachedInput: 0, output: Decimal(string: "0.0001234567")!))
        pricing.prices.append(
            ModelPrice(model: "nearly-whole", input: Decimal(string: "2.500000001")!, cachedInput: 0, output: 1))
        let settings = RuntimeSettings(
            host: "127.0.0.1", port: 0, databaseURL: "unused.db", gatewayKey: gatewayKey, adminKey: adminKey,
            configuration: RuntimeConfiguration(
                gateway: "t", runtimeURL: nil, gatewayKeyNamedValue: "k", products: [], deployments: [], pricing: pricing))
        let service = AccountingService(
            store: SQLRuntimeStore(driver: NoDriver()), settings: settings, metrics: RuntimeMetrics(), logger: Logger(label: "t"))
        for model in pricing.prices.map(\.model) + ["gpt-4o-2024-08-06"] {
            for tokens in [0, 1, 7, 999, 1000, 1200, 123_457, 99_999_999, 100_000_000] {
                // Twice: the first call learns the rate, the second uses it.
                for _ in 0..<2 {
                    #expect(try service.estimate(tokens: tokens, model: model) == service.calculator.estimate(tokens: tokens, model: model))
                }
            }
        }
        #expect(throws: PricingError.self) { try service.estimate(tokens: 10, model: "no-such-model") }
    }

    @Test func periodWindowsAreTheSameFromTheCache() {
        let calendar = PeriodCalendar(firstWeekday: 4, monthStartDay: 15)
        for offset in stride(from: 0, to: 86400 * 40, by: 3917) {
            let date = Date(timeIntervalSince1970: 1_790_000_000 + Double(offset))
            for period in Budget.Period.allCases {
                let first = calendar.window(period, containing: date)
                let again = calendar.window(period, containing: date.addingTimeInterval(1))
                #expect(first.start == again.start && first.end == again.end || Int(date.timeIntervalSince1970 + 1) % 86400 == 0)
                #expect(first.start <= date && (first.end.map { date < $0 } ?? true))
            }
        }
    }
}

/// A driver for a service that never reaches the database.
struct NoDriver: SQLDriver {
    var dialect: SQLDialect { .sqlite }
    func transaction<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        throw CancellationError()
    }
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        throw CancellationError()
    }
    func close() async {}
}
