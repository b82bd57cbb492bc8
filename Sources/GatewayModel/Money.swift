import Foundation

/// An amount of money in a currency, kept as a decimal (never binary floating point).
///
/// Encoded as `{"amount":"500.00","currency":"USD"}`; amounts are decimal strings so JSON
/// consumers cannot round them through a double.
public struct Money: Codable, Sendable, Hashable, CustomStringConvertible {
    public var amount: Decimal
    public var currency: String

    public init(_ amount: Decimal, currency: String = "USD") {
        self.amount = amount
        self.currency = currency
    }

    /// Parses a decimal string such as `"500.00"`; returns nil for anything else.
    public init?(string: String, currency: String = "USD") {
        guard let value = Money.parseDecimal(string) else { return nil }
        self.init(value, currency: currency)
    }

    /// Strict decimal parsing: optional sign, digits, optional fraction. No exponents, no spaces.
    public static func parseDecimal(_ text: String) -> Decimal? {
        var body = Substring(text)
        if body.first == "-" || body.first == "+" { body = body.dropFirst() }
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        guard !body.isEmpty, parts.count <= 2,
              parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) })
        else { return nil }
        return Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))
    }

    /// The amount with exactly `scale` fraction digits (banker's rounding), e.g. `"500.00"`.
    public func formatted(scale: Int = 2) -> String {
        Money.format(amount, scale: scale)
    }

    public static func format(_ value: Decimal, scale: Int) -> String {
        var input = value
        var rounded = Decimal()
        NSDecimalRound(&rounded, &input, scale, .bankers)
        let negative = rounded < 0
        var magnitude = negative ? -rounded : rounded
        var digits = NSDecimalString(&magnitude, Locale(identifier: "en_US_POSIX"))
        var fraction = ""
        if let dot = digits.firstIndex(of: ".") {
            fraction = String(digits[digits.index(after: dot)...])
            digits = String(digits[..<dot])
        }
        if fraction.count < scale { fraction += String(repeating: "0", count: scale - fraction.count) }
        let sign = negative && rounded != 0 ? "-" : ""
        return scale > 0 ? "\(sign)\(digits).\(fraction)" : "\(sign)\(digits)"
    }

    public var description: String { "\(formatted()) \(currency)" }

    enum CodingKeys: String, CodingKey { case amount, currency }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let text = try container.decode(String.self, forKey: .amount)
        guard let value = Money.parseDecimal(text) else {
            throw DecodingError.dataCorruptedError(
                forKey: .amount, in: container, debugDescription: "amount must be a decimal string like \"500.00\", got \"\(text)\"")
        }
        amount = value
        currency = try container.decodeIfPresent(String.self, forKey: .currency) ?? "USD"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(formatted(scale: max(2, amount.fractionDigits)), forKey: .amount)
        try container.encode(currency, forKey: .currency)
    }
}

extension Decimal {
    /// Number of digits after the decimal point in this value's canonical form.
    public var fractionDigits: Int { exponent < 0 ? -Int(exponent) : 0 }
}
