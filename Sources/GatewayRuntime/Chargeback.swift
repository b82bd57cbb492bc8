import Foundation
import Hummingbird
import NIOCore
import RuntimeStorage
import UsageAccounting

/// Parses `from`/`to`: a date (`2026-11-01`, midnight UTC) or an ISO-8601 date-time.
func parseReportDate(_ text: String, _ field: String) throws -> Int64 {
    if let date = try? Date(text, strategy: .iso8601) { return Int64(date.timeIntervalSince1970) }
    let parts = text.split(separator: "-")
    if parts.count == 3, let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        if let date = calendar.date(from: DateComponents(year: year, month: month, day: day)),
           calendar.component(.day, from: date) == day
        {
            return Int64(date.timeIntervalSince1970)
        }
    }
    throw APIError.invalid("\(field) must be a date (2026-11-01) or an ISO-8601 date-time")
}

struct DynamicKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// One JSON row: the group values first, then the sums.
struct ReportRowBody: Encodable {
    var row: ChargebackRow
    var dimensions: [ChargebackDimension]
    var includeGroups: Bool

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: DynamicKey.self)
        if includeGroups {
            for dimension in dimensions {
                let value = row.groups[dimension] ?? nil
                try container.encode(value, forKey: DynamicKey(dimension.rawValue))
            }
        }
        try container.encode(row.requests, forKey: DynamicKey("requests"))
        try container.encode(row.promptTokens, forKey: DynamicKey("promptTokens"))
        try container.encode(row.completionTokens, forKey: DynamicKey("completionTokens"))
        try container.encode(row.cachedTokens, forKey: DynamicKey("cachedTokens"))
        try container.encode(row.reasoningTokens, forKey: DynamicKey("reasoningTokens"))
        try container.encode(row.cost.formatted(), forKey: DynamicKey("cost"))
    }
}

struct ReportBody: Encodable {
    var from: String
    var to: String
    var groupBy: [ChargebackDimension]
    var rows: [ReportRowBody]
    var total: ReportRowBody
}

func csvField(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

/// `GET /v1/reports/chargeback?from&to&groupBy=product,model&format=json|csv`.
func chargebackReport(service: AccountingService, query: Parameters) async throws -> Response {
    let from = try query.get("from").map { try parseReportDate(String($0), "from") } ?? 0
    let to = try query.get("to").map { try parseReportDate(String($0), "to") } ?? Int64(Date().timeIntervalSince1970) + 1
    guard from <= to else { throw APIError.invalid("from must not be after to") }
    let groupText = query.get("groupBy") ?? "product"
    var dimensions: [ChargebackDimension] = []
    for name in groupText.split(separator: ",", omittingEmptySubsequences: true) {
        guard let dimension = ChargebackDimension(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
            throw APIError.invalid(
                "groupBy accepts \(ChargebackDimension.allCases.map(\.rawValue).joined(separator: ", ")); got \"\(name)\"")
        }
        if !dimensions.contains(dimension) { dimensions.append(dimension) }
    }
    let format = query.get("format") ?? "json"
    guard format == "json" || format == "csv" else { throw APIError.invalid("format must be json or csv") }
    let report = try await service.store.chargeback(from: from, to: to, groupBy: dimensions)
    let rows = dimensions.isEmpty ? [] : report.rows
    if format == "csv" {
        var lines = [(dimensions.map(\.rawValue) + ["requests", "promptTokens", "completionTokens", "cachedTokens", "reasoningTokens", "cost"]).joined(separator: ",")]
        for row in rows {
            let groups = dimensions.map { csvField((row.groups[$0] ?? nil) ?? "") }
            let sums = [row.requests, row.promptTokens, row.completionTokens, row.cachedTokens, row.reasoningTokens].map(String.init)
            lines.append((groups + sums + [row.cost.formatted()]).joined(separator: ","))
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"chargeback.csv\""],
            body: ResponseBody(byteBuffer: ByteBuffer(string: lines.joined(separator: "\n") + "\n")))
    }
    let body = ReportBody(
        from: Date(timeIntervalSince1970: TimeInterval(from)).formatted(.iso8601),
        to: Date(timeIntervalSince1970: TimeInterval(to)).formatted(.iso8601), groupBy: dimensions,
        rows: rows.map { ReportRowBody(row: $0, dimensions: dimensions, includeGroups: true) },
        total: ReportRowBody(row: report.total, dimensions: dimensions, includeGroups: false))
    return try json(body)
}
