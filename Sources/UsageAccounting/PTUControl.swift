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
        guard var text = value?.trimmingHTTPSpace(), !text.isEmpty else { return nil }
        if text.utf8.last == UInt8(ascii: "%") { text.removeLast() }
        guard let number = Double(text.trimmingHTTPSpace()), number.isFinite, number >= 0 else {
            return nil
        }
        return number
    }
}

/// Reads the `retry-after-ms` header (milliseconds, Azure OpenAI) or `Retry-After` (seconds).
public enum RetryAfter {
    /// Seconds to wait, or nil when neither header holds a usable number.
    public static func seconds(retryAfterMs: String?, retryAfter: String?) -> Double? {
        if let text = retryAfterMs, let ms = Double(text.trimmingHTTPSpace()), ms.isFinite, ms >= 0 {
            return ms / 1000
        }
        if let text = retryAfter, let seconds = Double(text.trimmingHTTPSpace()), seconds.isFinite,
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
/// 2. The utilization hint (the `azure-openai-deployment-utilization` header) when present. Readings
///    are smoothed (exponential average with time constant ``Parameters/smoothing``, about one round
///    trip) because online traffic makes single readings jump by several points. With `S` the
///    smoothed figure and `T` the target:
///    - below the target the limit grows **in proportion to the gap**: each success adds
///      `gain × (T − S) / S` (at most 1), i.e. per round trip (≈ `limit` successes) the limit grows
///      by `limit × (T − S) / S`. Batch requests are only part of `S`, and with the limit `L` they
///      contribute about `S_batch = L × c` for some unknown per-request share `c`; closing the gap
///      needs `ΔL = (T − S) / c ≥ L × (T − S) / S` because `S ≥ S_batch`. So one round trip never
///      overshoots, which is what makes the lag safe: the header on a response reflects the window
///      when that request was *admitted* (a round trip ago), and the next round trip still sees the
///      old limit; growing by at most the under-estimate twice stays at or under the gap. At most
///      one slot per success caps growth at doubling per round trip (slow start).
///    - above the target it shrinks multiplicatively to `limit × T / S` (at least
///      ×``Parameters/throttleDecrease``), at most once per ``Parameters/decreaseCooldown``.
///    - within ``Parameters/deadBandPercent`` below the target it holds, and a success of a call
///      that started before the last decrease does not make it grow (its reading predates the cut).
/// 3. Otherwise (no hint: header absent or disabled) it grows by ``Parameters/increaseStep`` per
///    round trip — `step / limit` per success — until a 429 says where the top is, and slows down
///    near the limit of the last 429.
///
/// A utilization hint that is older than ``Parameters/hintMaxAge`` is ignored (unknown).
public struct ConcurrencyController: Sendable {
    /// Tuning knobs.
    public struct Parameters: Sendable, Equatable {
        /// Target utilization in percent (the deployment's `targetUtilizationPercent`).
        public var targetPercent: Double
        /// No growth while the smoothed hint is within this many points below the target. Online
        /// traffic makes the window jump by several points; parking just under the target keeps the
        /// jumps that reach 100% rare (0.5 gave 98% of the target but up to 2.8% batch 429s).
        public var deadBandPercent: Double = 2
        /// Time constant (seconds) of the exponential average of utilization readings (≈ one round trip).
        public var smoothing: Double = 1
        /// Fraction of the proportional step applied (1 = the largest step that cannot overshoot).
        public var proportionalGain: Double = 1
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
    /// Exponential average of the utilization readings (see ``Parameters/smoothing``) and when it was updated.
    public private(set) var smoothed: (percent: Double, at: Double)?
    /// The coarse Azure Monitor gate (empty until a figure is recorded).
    public private(set) var coarse: CoarseUtilizationGate
    private var lastDecrease: Double = -.infinity
    /// 429s in a row on calls started after a pause (see ``throttled(retryAfter:now:)``).
    public private(set) var throttleStreak = 0
    /// Average duration of a successful batch call (seconds; nil until one is measured).
    public private(set) var roundTrip: Double?

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

    /// Utilization (latest single reading) at or above which no new request starts, though the
    /// limit is not cut: half-way between the target and 100%. A spike of online traffic to there
    /// is met by holding batch back rather than by pushing the window over 100%.
    public var holdPercent: Double { parameters.targetPercent + (100 - parameters.targetPercent) / 2 }

    /// How many more requests may start now with `inFlight` already running.
    ///
    /// After a 429 nothing starts until the retry-after has passed, and then the limit re-opens
    /// over one round trip (``effectiveCooldown``) instead of all at once: at the end of the
    /// retry-after the window is back at exactly 100%, so a burst of starts would mostly be 429s.
    public func allowed(inFlight: Int, now: Double) -> Int {
        guard now >= pausedUntil else { return 0 }
        if let utilization = currentHint(now: now), utilization >= holdPercent { return 0 }
        if case .saturated = coarse.decision(now: now) { return 0 }
        var cap = limit.rounded(.down)
        if pausedUntil.isFinite, now - pausedUntil < effectiveCooldown {
            cap = min(cap, 1 + ((now - pausedUntil) / max(effectiveCooldown, 0.001) * limit).rounded(.down))
        }
        return max(0, Int(cap) - inFlight)
    }

    /// The smoothed utilization if the latest reading is fresh, else nil (unknown).
    public func smoothedHint(now: Double) -> Double? {
        guard currentHint(now: now) != nil, let smoothed else { return nil }
        return smoothed.percent
    }

    /// Folds a reading into the hint and its exponential average.
    private mutating func record(_ utilization: Double, now: Double) {
        if let previous = smoothed, let last = hint, now - last.at <= parameters.hintMaxAge {
            let elapsed = max(0, now - previous.at)
            let weight = parameters.smoothing > 0 ? 1 - exp(-elapsed / parameters.smoothing) : 1
            // A single reading moves the average by at least a little even at the same instant.
            let alpha = min(1, max(weight, 0.02))
            smoothed = (previous.percent + alpha * (utilization - previous.percent), now)
        } else {
            smoothed = (utilization, now)
        }
        hint = (utilization, now)
    }

    /// Shrinks the limit when the smoothed utilization is above the target.
    private mutating func shrinkIfOverTarget(now: Double) -> Bool {
        guard let current = smoothedHint(now: now), current > parameters.targetPercent else { return false }
        decrease(by: max(parameters.throttleDecrease, parameters.targetPercent / current), now: now)
        return true
    }

    /// Records a utilization reading (from any PTU response, relay or batch) without a completion.
    public mutating func observe(utilization: Double?, now: Double) {
        guard let utilization else { return }
        record(utilization, now: now)
        _ = shrinkIfOverTarget(now: now)
    }

    /// A batch request succeeded; `utilization` is the header on its response (nil if absent),
    /// `latency` how long the call took (seconds; nil if not measured).
    public mutating func succeeded(utilization: Double?, now: Double, latency: Double? = nil) {
        if let latency, latency.isFinite, latency >= 0 {
            roundTrip = roundTrip.map { $0 + 0.1 * (latency - $0) } ?? latency
        }
        if let utilization { record(utilization, now: now) }
        let target = parameters.targetPercent
        if let current = smoothedHint(now: now) {
            if shrinkIfOverTarget(now: now) { return }
            if current >= target - parameters.deadBandPercent { return }
            // A call that started before the last decrease (or 429) reports the window as it was
            // then: growing on it would undo the decrease before its effect can be seen.
            if let latency, now - latency < lastDecrease { return }
            if case .atOrAboveTarget = coarse.decision(now: now) { return }
            if case .saturated = coarse.decision(now: now) { return }
            // Proportional growth (see the type's documentation): per round trip ≈ limit × gap / S.
            let step = min(1, parameters.proportionalGain * (target - current) / max(current, 1))
            limit = min(parameters.maximum, limit + step)
            return
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
    ///
    /// A 429 that arrives after the previous pause had ended (a call started on re-entry, while the
    /// window was still at 100%) lengthens the next pause beyond the retry-after: by half a round
    /// trip, doubled for each such 429 in a row, at most two round trips. Nothing is admitted while
    /// the window is over 100% anyway, so a longer pause costs little; each probe into it costs a
    /// 429. 429s of calls that were already on their way when the first one arrived do not count.
    public mutating func throttled(retryAfter: Double?, now: Double) {
        if pausedUntil.isFinite, now >= pausedUntil {
            throttleStreak = now - pausedUntil <= 2 * effectiveCooldown ? throttleStreak + 1 : 0
        }
        let extra = throttleStreak == 0 ? 0 : min(2 * effectiveCooldown, effectiveCooldown / 2 * pow(2, Double(throttleStreak - 1)))
        pausedUntil = max(pausedUntil, now + (retryAfter ?? 1) + extra)
        if now - lastDecrease >= effectiveCooldown { ceiling = limit }
        decrease(by: parameters.throttleDecrease, now: now)
    }

    /// A batch request failed with a server or network error: back off like a 429 without a hint.
    public mutating func failed(now: Double) {
        decrease(by: 0.75, now: now)
    }

    /// Minimum time between two decreases: ``Parameters/decreaseCooldown``, or the measured round
    /// trip when longer (a reading on a response describes the window when that request was
    /// admitted, so the effect of a decrease shows only a round trip later), at most
    /// ``Parameters/hintMaxAge``.
    public var effectiveCooldown: Double {
        max(parameters.decreaseCooldown, min(roundTrip ?? 0, parameters.hintMaxAge))
    }

    private mutating func decrease(by factor: Double, now: Double) {
        guard now - lastDecrease >= effectiveCooldown else { return }
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
