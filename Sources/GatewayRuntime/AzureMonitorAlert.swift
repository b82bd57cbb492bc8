import Foundation
public import GatewayModel

/// A budget alert parsed from an Azure Monitor webhook body.
public struct BudgetAlert: Sendable, Equatable {
    /// Stable id for idempotency (`essentials.alertId`, or derived from the legacy body).
    public var id: String
    /// Budget name in Cost Management (`BudgetName`), or the alert rule name.
    public var budgetName: String
    /// `Fired`/`Resolved` (common schema) or `Fired` for legacy notifications.
    public var condition: String
    /// Spent amount when present (formatted strings like "$11,111.00" are parsed).
    public var spent: Decimal?
    /// The budget's amount when present.
    public var budget: Decimal?
    /// Which shape the body had: `common` or `legacy`.
    public var kind: String
}

/// Parses Azure Monitor alert webhooks: the common alert schema (any monitoring service, including
/// Cost Management budget alerts with `monitoringService: "CostAlerts"`) and the legacy budget
/// notification shape (`data.BudgetName`, `SpentAmount`, `Budget`/`BudgetAmount` at the top level or
/// under `data`).
public enum AzureMonitorAlertParser {
    /// Why a payload was rejected (400, nothing changed).
    public struct Rejection: Error, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// Parses a webhook body.
    public static func parse(_ body: JSONValue) throws(Rejection) -> BudgetAlert {
        guard case .object = body else { throw Rejection(reason: "alert body must be a JSON object") }
        if let schema = body["schemaId"], case .string(let schemaId) = schema {
            guard schemaId == "azureMonitorCommonAlertSchema" else {
                throw Rejection(reason: "unsupported schemaId \"\(schemaId)\"")
            }
            guard let essentials = body["data"]?["essentials"], case .object = essentials else {
                throw Rejection(reason: "common alert schema without data.essentials")
            }
            guard case .string(let alertId)? = essentials["alertId"], !alertId.isEmpty else {
                throw Rejection(reason: "data.essentials.alertId is missing")
            }
            let condition = string(essentials["monitorCondition"]) ?? "Fired"
            let context = body["data"]?["alertContext"]
            let service = string(essentials["monitoringService"]) ?? ""
            var budgetName = string(context?["BudgetName"]) ?? string(context?["budgetName"])
            if budgetName == nil, service != "CostAlerts" { budgetName = string(essentials["alertRule"]) }
            guard let name = budgetName, !name.isEmpty else {
                throw Rejection(reason: "CostAlerts alert without alertContext.BudgetName")
            }
            let spent = try amount(context?["SpentAmount"] ?? context?["spentAmount"], "SpentAmount")
            let budget = try amount(
                context?["BudgetThreshold"] ?? context?["Budget"] ?? context?["budgetAmount"] ?? context?["Amount"],
                "BudgetThreshold")
            return BudgetAlert(
                id: alertId, budgetName: name, condition: condition, spent: spent, budget: budget, kind: "common")
        }
        // Legacy budget notification: fields at the top level or under `data`.
        let data: JSONValue = body["data"].flatMap { if case .object = $0 { $0 } else { nil } } ?? body
        guard let name = string(data["BudgetName"]) ?? string(data["budgetName"]), !name.isEmpty else {
            throw Rejection(reason: "unknown alert payload: neither the common alert schema nor a budget notification")
        }
        let spent = try amount(data["SpentAmount"] ?? data["spentAmount"], "SpentAmount")
        let budget = try amount(data["Budget"] ?? data["BudgetAmount"] ?? data["budgetAmount"], "Budget")
        guard spent != nil || budget != nil else {
            throw Rejection(reason: "budget notification without SpentAmount or Budget")
        }
        let period = string(data["BudgetStartDate"]) ?? string(data["NotificationThresholdAmount"]) ?? ""
        let id = "legacy:\(name):\(period):\(spent.map { "\($0)" } ?? ""):\(string(data["NotificationThresholdAmount"]) ?? "")"
        return BudgetAlert(id: id, budgetName: name, condition: "Fired", spent: spent, budget: budget, kind: "legacy")
    }

    static func string(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let text)?: text
        case .number(let number)?: String(number)
        default: nil
        }
    }

    /// Parses amounts such as `"$11,111.00"`, `"1,234.5 USD"`, `"500"` or a JSON number.
    static func amount(_ value: JSONValue?, _ field: String) throws(Rejection) -> Decimal? {
        switch value {
        case nil, .null?: return nil
        case .number(let number)?:
            guard number >= 0, number.isFinite else { throw Rejection(reason: "\(field) must not be negative") }
            return Money.parseDecimal(String(format: "%.2f", number))
        case .string(let text)?:
            var cleaned = text.trimmingCharacters(in: .whitespaces)
            for token in ["USD", "$", ","] { cleaned = cleaned.replacingOccurrences(of: token, with: "") }
            cleaned = cleaned.trimmingCharacters(in: .whitespaces)
            guard let decimal = Money.parseDecimal(cleaned), decimal >= 0 else {
                throw Rejection(reason: "\(field) is not an amount: \"\(text)\"")
            }
            return decimal
        default:
            throw Rejection(reason: "\(field) is not an amount")
        }
    }
}
