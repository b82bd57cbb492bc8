// Pure control logic for PTU-gated batch dispatch (issue 7): the AIMD concurrency controller, retry
// backoff with jitter, the utilization reading and the coarse Azure Monitor gate. No HTTP, no SQL,
// no clocks: every function takes "now" in seconds on a monotonic scale chosen by the caller.

import Foundation

/// A utilization figure in percent (0–100+, the scale of Azure Monitor's
/// `AzureOpenAIProvisionedManagedUtilizationV2` and of the `azure-openai-deployment-utilization`
/// header). `nil` everywhere in this file means *unknown* — never 0%.
public enum UtilizationHeader {
    /// Name of the (undocumented) response header Azure OpenAI sends on provisioned deployments.
    public static let name = "azure-openai-deployment-utilization"

    /// Parses a header value such as `"37.5%"` or `"37.5"`. Returns nil (unknown) for anything else,
    /// including negative numbers, NaN and an empty value.
    public static func parse(_ value: String?) -> Double? {
        guard var text = value?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if text.hasSuffix("%") { text.removeLast() }
        guard let number = Double(text.trimmingCharacters(in: .whitespaces)), number.isFinite, number >= 0 else {
            return nil
        }
        return number
    }
}

/// Reads the `retry-after-ms` header (milliseconds, Azure OpenAI) or `Retry-After` (seconds).
public enum RetryAfter {
    /// Seconds to wait, or nil when neither header holds a usable number.
    public static func seconds(retryAfterMs: String?, retryAfter: String?) -> Double? {
        if let text = retryAfterMs, let ms = Double(text.trimmingCharacters(in: .whitespaces)), ms.isFinite, ms >= 0 {
            return ms / 1000
        }
        if let text = retryAfter, let seconds = Double(text.trimmingCharacters(in: .whitespaces)), seconds.isFinite,
            seconds >= 0
        {
            return seconds
        }
        return nil
    }
}

/// Additive-increase / multiplicative-decrease control of how many batch requests may be in flight
/// against one provisioned deployment.
///
/// Signals, strongest first:
/// 1. `429` (with `retry-after-ms`): the deployment is above 100%. The limit is cut by
///    ``Parameters/throttleDecrease`` (at most once per ``Parameters/decreaseCooldown``, so a burst of
///    429s from requests that were already in flight counts once), no new request starts until the
///    retry-after has passed, and the limit that caused the 429 is remembered as a ceiling that later
///    increases approach slowly.
/// 2. The utilization hint (the `azure-openai-deployment-utilization` header, or the coarse Azure
///    Monitor figure) when present: above the target the limit shrinks in proportion
///    (`limit × target / utilization`, at least ×``Parameters/throttleDecrease``); inside the dead band
///    below the target it holds; further below it grows.
/// 3. Otherwise (no hint: header absent or disabled) it grows by ``Parameters/increaseStep`` per
///    round trip — `step / limit` per success — until a 429 says where the top is.
///
/// Growth is per round trip (each success adds `step / limit`), so it is independent of the absolute
/// request rate. A utilization hint that is older than ``Parameters/hintMaxAge`` is ignored (unknown).
public struct ConcurrencyController: Sendable {
    /// Tuning knobs.
    public struct Parameters: Sendable, Equatable {
        /// Target utilization in percent (the deployment's `targetUtilizationPercent`).
        public var targetPercent: Double
        /// No growth while the hint is within this many points below the target.
        public var deadBandPercent: Double = 5
        /// Concurrency bounds.
        public var minimum: Double = 1
        public var maximum: Double = 64
        /// Starting concurrency.
        public var initial: Double = 2
        /// Added per round trip while below target.
        public var increaseStep: Double = 1
        /// Factor applied on a 429.
        public var throttleDecrease: Double = 0.5
        /// Minimum seconds between two decreases.
        public var decreaseCooldown: Double = 1
        /// A hint older than this (seconds) is unknown.
        public var hintMaxAge: Double = 5
        /// Near the last ceiling (the limit at the last 429), growth is divided by this.
        public var ceilingSlowdown: Double = 4
        /// Age (seconds) after which an Azure Monitor figure is unknown.
        public var coarseMaxAge: Double = 300

        /// Creates parameters for a target.
        public init(targetPercent: Double) { self.targetPercent = targetPercent }
    }

    /// The parameters in force.
    public let parameters: Parameters
    /// Current concurrency limit (fractional; ``allowed`` floors it).
    public private(set) var limit: Double
    /// No new request may start before this time.
    public private(set) var pausedUntil: Double = -.infinity
    /// The limit at the last 429 (nil: none seen yet).
    public private(set) var ceiling: Double?
    /// Latest utilization hint and when it was seen.
    public private(set) var hint: (percent: Double, at: Double)?
    /// The coarse Azure Monitor gate (empty until a figure is recorded).
    public private(set) var coarse: CoarseUtilizationGate
    private var lastDecrease: Double = -.infinity

    /// Creates a controller at ``Parameters/initial``.
    public init(parameters: Parameters) {
        self.parameters = parameters
        limit = min(max(parameters.initial, parameters.minimum), parameters.maximum)
        coarse = CoarseUtilizationGate(targetPercent: parameters.targetPercent, maxAge: parameters.coarseMaxAge)
    }

    /// Records an Azure Monitor figure (nil: the query returned none — stays unknown).
    public mutating func recordCoarse(percent: Double?, now: Double) {
        coarse.record(percent: percent, at: now)
    }

    /// The utilization hint if it is fresh, else nil (unknown).
    public func currentHint(now: Double) -> Double? {
        guard let hint, now - hint.at <= parameters.hintMaxAge else { return nil }
        return hint.percent
    }

    /// How many more requests may start now with `inFlight` already running.
    public func allowed(inFlight: Int, now: Double) -> Int {
        guard now >= pausedUntil else { return 0 }
        if let utilization = currentHint(now: now), utilization >= 100 { return 0 }
        if case .saturated = coarse.decision(now: now) { return 0 }
        return max(0, Int(limit.rounded(.down)) - inFlight)
    }

    /// Records a utilization reading (from any PTU response, relay or batch) without a completion.
    public mutating func observe(utilization: Double?, now: Double) {
        guard let utilization else { return }
        hint = (utilization, now)
        if utilization > parameters.targetPercent { decrease(by: max(parameters.throttleDecrease, parameters.targetPercent / utilization), now: now) }
    }

    /// A batch request succeeded; `utilization` is the header on its response (nil if absent).
    public mutating func succeeded(utilization: Double?, now: Double) {
        if let utilization { hint = (utilization, now) }
        let target = parameters.targetPercent
        if let current = currentHint(now: now) {
            if current > target {
                decrease(by: max(parameters.throttleDecrease, target / current), now: now)
                return
            }
            if current >= target - parameters.deadBandPercent { return }
        }
        // The lagging minute figure can only hold growth back; unknown changes nothing.
        switch coarse.decision(now: now) {
        case .atOrAboveTarget, .saturated: return
        case .below, .unknown: break
        }
        var step = parameters.increaseStep / max(limit, 1)
        if let ceiling, limit >= ceiling * 0.9 { step /= parameters.ceilingSlowdown }
        limit = min(parameters.maximum, limit + step)
    }

    /// A batch request got 429; `retryAfter` in seconds from `retry-after-ms` (nil if absent).
    public mutating func throttled(retryAfter: Double?, now: Double) {
        pausedUntil = max(pausedUntil, now + (retryAfter ?? 1))
        if now - lastDecrease >= parameters.decreaseCooldown { ceiling = limit }
        decrease(by: parameters.throttleDecrease, now: now)
    }

    /// A batch request failed with a server or network error: back off like a 429 without a hint.
    public mutating func failed(now: Double) {
        decrease(by: 0.75, now: now)
    }

    private mutating func decrease(by factor: Double, now: Double) {
        guard now - lastDecrease >= parameters.decreaseCooldown else { return }
        lastDecrease = now
        limit = max(parameters.minimum, min(parameters.maximum, limit * factor))
    }
}

/// Retry delays: `retry-after-ms` when the backend gave one (plus a little jitter so that many
/// waiting jobs do not return in the same millisecond), else exponential backoff with full jitter.
public struct RetryBackoff: Sendable, Equatable {
    /// First delay (seconds) without a retry-after.
    public var base: Double = 0.5
    /// Longest delay (seconds).
    public var cap: Double = 60
    /// Jitter added to a retry-after, as a fraction of it (at most ``maximumJitter`` seconds).
    public var retryAfterJitter: Double = 0.2
    /// Upper bound of the jitter added to a retry-after, in seconds.
    public var maximumJitter: Double = 1

    /// Creates a policy.
    public init(base: Double = 0.5, cap: Double = 60) {
        self.base = base
        self.cap = cap
    }

    /// Seconds to wait before attempt `attempt + 1` (`attempt` ≥ 1 failed so far). `random` is a
    /// uniform number in 0..<1.
    public func delay(attempt: Int, retryAfter: Double?, random: Double) -> Double {
        let unit = min(max(random, 0), 1)
        if let retryAfter {
            return min(cap, retryAfter + min(maximumJitter, retryAfter * retryAfterJitter) * unit)
        }
        let exponent = min(max(attempt - 1, 0), 30)
        let ceiling = min(cap, base * Double(1 << exponent))
        return ceiling * unit
    }
}

/// The coarse gate fed by Azure Monitor's 1-minute `AzureOpenAIProvisionedManagedUtilizationV2`
/// (which lags 1–3 minutes). It only ever holds dispatch back; missing or stale data is `unknown`,
/// which never opens the gate further than the live signals do.
public struct CoarseUtilizationGate: Sendable {
    /// What the gate says.
    public enum Decision: Sendable, Equatable {
        /// No recent data point: rely on the live signals only.
        case unknown
        /// The last complete minute was below the target.
        case below(Double)
        /// At or above the target: do not grow.
        case atOrAboveTarget(Double)
        /// At or above 100%: do not start new batch requests.
        case saturated(Double)
    }

    /// Target in percent.
    public var targetPercent: Double
    /// A data point older than this (seconds) is unknown. Azure Monitor lags, so the default is 5 minutes.
    public var maxAge: Double = 300
    private var latest: (percent: Double, at: Double)?

    /// Creates a gate.
    public init(targetPercent: Double, maxAge: Double = 300) {
        self.targetPercent = targetPercent
        self.maxAge = maxAge
    }

    /// Records the newest data point (`percent` nil: the query returned no value — unknown).
    public mutating func record(percent: Double?, at time: Double) {
        if let percent, percent.isFinite, percent >= 0 { latest = (percent, time) }
    }

    /// The decision at `now`.
    public func decision(now: Double) -> Decision {
        guard let latest, now - latest.at <= maxAge else { return .unknown }
        if latest.percent >= 100 { return .saturated(latest.percent) }
        if latest.percent >= targetPercent { return .atOrAboveTarget(latest.percent) }
        return .below(latest.percent)
    }
}
