public import Foundation
public import GatewayModel
import Synchronization

/// Where budget periods start. Calendar periods in UTC.
public struct PeriodCalendar: Sendable, Hashable {
    /// First day of a week, 1 = Sunday … 7 = Saturday (Gregorian weekday numbers). Default Monday.
    public var firstWeekday: Int
    /// Day of the month a monthly period starts on, 1…28. Default 1.
    public var monthStartDay: Int

    /// Creates a period calendar; values out of range are clamped.
    public init(firstWeekday: Int = 2, monthStartDay: Int = 1) {
        self.firstWeekday = min(max(firstWeekday, 1), 7)
        self.monthStartDay = min(max(monthStartDay, 1), 28)
    }

    private static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    /// Windows computed recently, by calendar, period and UTC day: every period starts at a UTC
    /// midnight, so all instants of one day share their windows. Foundation's calendar arithmetic
    /// costs microseconds, and every budget check needs one window per budget.
    private struct WindowKey: Hashable {
        var firstWeekday: Int
        var monthStartDay: Int
        var period: Budget.Period
        var day: Int64
    }

    private static let recentWindows = Mutex<[WindowKey: (start: Date, end: Date?)]>([:])

    /// The period containing `date`: its start (inclusive) and end (exclusive, nil for `total`).
    public func window(_ period: Budget.Period, containing date: Date) -> (start: Date, end: Date?) {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite, abs(seconds) < 1e15 else { return computeWindow(period, containing: date) }
        let key = WindowKey(
            firstWeekday: firstWeekday, monthStartDay: monthStartDay, period: period,
            day: Int64((seconds / 86400).rounded(.down)))
        if let window = Self.recentWindows.withLock({ $0[key] }) { return window }
        let window = computeWindow(period, containing: date)
        Self.recentWindows.withLock { cache in
            if cache.count >= 256 { cache.removeAll(keepingCapacity: true) }
            cache[key] = window
        }
        return window
    }

    private func computeWindow(_ period: Budget.Period, containing date: Date) -> (start: Date, end: Date?) {
        let calendar = Self.utc
        switch period {
        case .total:
            return (Date(timeIntervalSince1970: 0), nil)
        case .daily:
            let start = calendar.startOfDay(for: date)
            return (start, calendar.date(byAdding: .day, value: 1, to: start)!)
        case .weekly:
            let day = calendar.startOfDay(for: date)
            let weekday = calendar.component(.weekday, from: day)
            let back = (weekday - firstWeekday + 7) % 7
            let start = calendar.date(byAdding: .day, value: -back, to: day)!
            return (start, calendar.date(byAdding: .day, value: 7, to: start)!)
        case .monthly:
            var parts = calendar.dateComponents([.year, .month, .day], from: date)
            if parts.day! < monthStartDay {
                let previous = calendar.date(byAdding: .month, value: -1, to: date)!
                parts = calendar.dateComponents([.year, .month], from: previous)
            }
            parts.day = monthStartDay
            let start = calendar.date(from: DateComponents(year: parts.year, month: parts.month, day: monthStartDay))!
            return (start, calendar.date(byAdding: .month, value: 1, to: start)!)
        }
    }
}

/// One budget counter touched by a request: a budget of a product, narrowed to its scope value and
/// period instance. Storage keeps one row per `(key, periodStart)`.
public struct BudgetCounter: Sendable, Hashable {
    /// Stable key: `product|period|scope|scopeValue`.
    public var key: String
    /// Start of the period instance, seconds since 1970 (0 for `total`).
    public var periodStart: Int64
    /// End of the period instance, nil for `total`.
    public var resetAt: Date?
    /// The budget's amount.
    public var limit: Nanos
    /// Hard budgets deny; soft budgets only alert.
    public var hard: Bool
    /// Alert thresholds in percent.
    public var alertThresholds: [Int]

    /// Creates a counter.
    public init(key: String, periodStart: Int64, resetAt: Date?, limit: Nanos, hard: Bool, alertThresholds: [Int]) {
        self.key = key
        self.periodStart = periodStart
        self.resetAt = resetAt
        self.limit = limit
        self.hard = hard
        self.alertThresholds = alertThresholds
    }
}

/// The budget counters a request touches.
public enum BudgetPlan {
    /// Counters for the product's budgets, for a subscription and optional user, at `date`.
    /// Duplicate budgets (same period and scope) keep the smallest amount. Sorted by key so that
    /// concurrent transactions lock rows in one order.
    public static func counters(
        for product: ProductDefinition, subscription: String, user: String?, at date: Date,
        calendar: PeriodCalendar = PeriodCalendar()
    ) -> [BudgetCounter] {
        var byKey: [String: BudgetCounter] = [:]
        for budget in product.budgets {
            let scopeValue: String
            switch budget.scope {
            case .product: scopeValue = ""
            case .subscription: scopeValue = subscription
            case .user:
                guard let user, !user.isEmpty else { continue }
                scopeValue = user
            }
            let key = "\(product.id)|\(budget.period.rawValue)|\(budget.scope.rawValue)|\(scopeValue)"
            let window = calendar.window(budget.period, containing: date)
            let counter = BudgetCounter(
                key: key, periodStart: Int64(window.start.timeIntervalSince1970), resetAt: window.end,
                limit: Nanos(rounding: budget.amount.amount), hard: budget.enforcement == .hard,
                alertThresholds: budget.alertThresholds)
            if let existing = byKey[key], existing.limit <= counter.limit, existing.hard || !counter.hard { continue }
            byKey[key] = counter
        }
        return byKey.values.sorted { $0.key < $1.key }
    }
}

/// The thresholds (in percent) newly crossed when spend goes from `before` to `after`.
public func crossedThresholds(_ thresholds: [Int], limit: Nanos, before: Nanos, after: Nanos) -> [Int] {
    guard limit.value > 0 else { return [] }
    return thresholds.sorted().filter { threshold in
        // spend * 100 >= limit * threshold, in 128-bit-safe Decimal arithmetic.
        let line = Decimal(limit.value) * Decimal(threshold)
        return Decimal(before.value) * 100 < line && Decimal(after.value) * 100 >= line
    }
}
