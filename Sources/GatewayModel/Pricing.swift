import Foundation

/// Prices per model, in USD per one million tokens.
public struct PricingTable: Codable, Sendable, Hashable {
    public var source: String
    public var retrieved: String
    public var prices: [ModelPrice]

    public init(source: String, retrieved: String, prices: [ModelPrice]) {
        self.source = source
        self.retrieved = retrieved
        self.prices = prices
    }

    /// The most specific price for a model and deployment type: an exact deployment-type match first,
    /// then a price that applies to any deployment type.
    public func price(model: String, deploymentType: String? = nil) -> ModelPrice? {
        let candidates = prices.filter { $0.model == model }
        if let deploymentType, let exact = candidates.first(where: { $0.deploymentType == deploymentType }) {
            return exact
        }
        return candidates.first(where: { $0.deploymentType == nil }) ?? candidates.first
    }
}

/// USD per 1M tokens for one model. Cached input tokens are part of the prompt tokens and are
/// charged at `cachedInput`; reasoning tokens are output tokens.
public struct ModelPrice: Codable, Sendable, Hashable {
    public var model: String
    /// nil = applies to every deployment type; otherwise e.g. `GlobalStandard`.
    public var deploymentType: String?
    public var input: Decimal
    public var cachedInput: Decimal
    public var output: Decimal

    public init(model: String, deploymentType: String? = nil, input: Decimal, cachedInput: Decimal, output: Decimal) {
        self.model = model
        self.deploymentType = deploymentType
        self.input = input
        self.cachedInput = cachedInput
        self.output = output
    }

    enum CodingKeys: String, CodingKey { case model, deploymentType, input, cachedInput, output }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        model = try container.decode(String.self, forKey: .model)
        deploymentType = try container.decodeIfPresent(String.self, forKey: .deploymentType)
        input = try container.decodeRate(forKey: .input)
        cachedInput = try container.decodeRate(forKey: .cachedInput)
        output = try container.decodeRate(forKey: .output)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(model, forKey: .model)
        try container.encodeIfPresent(deploymentType, forKey: .deploymentType)
        try container.encodeRate(input, forKey: .input)
        try container.encodeRate(cachedInput, forKey: .cachedInput)
        try container.encodeRate(output, forKey: .output)
    }
}

/// Prices per 1M tokens are written as non-negative decimal strings ("2.50"), never JSON numbers,
/// so no binary floating point touches them.
extension KeyedDecodingContainer {
    fileprivate func decodeRate(forKey key: Key) throws -> Decimal {
        try rate(decode(String.self, forKey: key), forKey: key)
    }

    fileprivate func decodeRateIfPresent(forKey key: Key) throws -> Decimal? {
        try decodeIfPresent(String.self, forKey: key).map { try rate($0, forKey: key) }
    }

    private func rate(_ text: String, forKey key: Key) throws -> Decimal {
        guard let value = Money.parseDecimal(text), value >= 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self, debugDescription: "price must be a non-negative decimal string, got \"\(text)\"")
        }
        return value
    }
}

extension KeyedEncodingContainer {
    fileprivate mutating func encodeRate(_ value: Decimal, forKey key: Key) throws {
        try encode(Money.format(value, scale: max(2, value.fractionDigits)), forKey: key)
    }
}

/// Prices sent with one request (`"price"` in a check or usage report), USD per 1M tokens as decimal
/// strings. A field that is left out keeps the table's price; with all three the model need not be
/// in the table at all (a fine-tuned or negotiated-rate deployment, for example).
public struct PriceOverride: Codable, Sendable, Hashable {
    public var input: Decimal?
    public var cachedInput: Decimal?
    public var output: Decimal?

    public init(input: Decimal? = nil, cachedInput: Decimal? = nil, output: Decimal? = nil) {
        self.input = input
        self.cachedInput = cachedInput
        self.output = output
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case input, cachedInput, output }

    /// True when every rate is given, so no table entry is needed.
    public var isComplete: Bool { input != nil && cachedInput != nil && output != nil }

    /// `base` with the given rates replaced.
    public func applied(to base: ModelPrice) -> ModelPrice {
        var price = base
        if let input { price.input = input }
        if let cachedInput { price.cachedInput = cachedInput }
        if let output { price.output = output }
        return price
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        input = try container.decodeRateIfPresent(forKey: .input)
        cachedInput = try container.decodeRateIfPresent(forKey: .cachedInput)
        output = try container.decodeRateIfPresent(forKey: .output)
        guard input != nil || cachedInput != nil || output != nil else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "price needs at least one of input, cachedInput, output"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        for (key, value) in [(CodingKeys.input, input), (.cachedInput, cachedInput), (.output, output)] {
            if let value { try container.encodeRate(value, forKey: key) }
        }
    }
}

extension PricingTable {
    /// List prices of current Azure OpenAI models (Global Standard deployments, USD per 1M tokens).
    ///
    /// Source: Azure OpenAI Service pricing page
    /// (https://azure.microsoft.com/pricing/details/cognitive-services/openai-service/), Global deployment
    /// column, as transcribed on the `retrieved` date. Prices change: override them in your gateway.
    public static let azureOpenAIDefault = PricingTable(
        source: "https://azure.microsoft.com/pricing/details/cognitive-services/openai-service/ (Global Standard)",
        retrieved: "2026-11-22",
        prices: [
            price("gpt-4o", "2.50", "1.25", "10.00"),
            price("gpt-4o-mini", "0.15", "0.075", "0.60"),
            price("gpt-4.1", "2.00", "0.50", "8.00"),
            price("gpt-4.1-mini", "0.40", "0.10", "1.60"),
            price("gpt-4.1-nano", "0.10", "0.025", "0.40"),
            price("o1", "15.00", "7.50", "60.00"),
            price("o3", "2.00", "0.50", "8.00"),
            price("o3-mini", "1.10", "0.55", "4.40"),
            price("o4-mini", "1.10", "0.275", "4.40"),
            price("gpt-5", "1.25", "0.125", "10.00"),
            price("gpt-5-mini", "0.25", "0.025", "2.00"),
            price("gpt-5-nano", "0.05", "0.005", "0.40"),
            price("text-embedding-3-small", "0.02", "0.02", "0.00"),
            price("text-embedding-3-large", "0.13", "0.13", "0.00"),
            price("text-embedding-ada-002", "0.10", "0.10", "0.00"),
        ]
    )

    private static func price(_ model: String, _ input: String, _ cached: String, _ output: String) -> ModelPrice {
        ModelPrice(
            model: model, input: Money.parseDecimal(input)!, cachedInput: Money.parseDecimal(cached)!,
            output: Money.parseDecimal(output)!)
    }
}
