import Foundation
import Synchronization

/// Settings of the simulated provisioned (PTU) deployment. Times are *simulated* seconds; the
/// simulator runs `timeScale` simulated seconds per real second, so tests can compress minutes of
/// traffic into seconds (every duration, including `retry-after-ms` and the metric's minutes, is
/// scaled the same way).
public struct PTUSimulatorConfiguration: Sendable {
    /// Capacity at 100% utilization, in tokens per simulated minute.
    public var tokensPerMinute: Double = 60_000
    /// Simulated seconds per real second (1 = real time).
    public var timeScale: Double = 1
    /// Length of the sliding window over which utilization is computed (simulated seconds).
    public var windowSeconds: Double = 10
    /// Send `azure-openai-deployment-utilization` on responses (Azure may drop it; test both).
    public var sendUtilizationHeader = true
    /// Time to first token (simulated seconds).
    public var timeToFirstToken: Double = 0.25
    /// Generation speed of one request (tokens per simulated second).
    public var tokensPerSecond: Double = 60
    /// Output tokens assumed for admission when a request has no `max_tokens`.
    public var defaultMaxTokens = 256
    /// Each completion is this fraction of `max_tokens` (derived from a hash of the request, so the
    /// same request gets the same answer).
    public var completionFraction: ClosedRange<Double> = 0.6...1.0
    /// Online traffic generated inside the simulator, in percent of capacity (0 = none).
    public var backgroundLoadPercent: Double = 0
    /// Shape of one online request.
    public var backgroundPromptTokens = 300
    public var backgroundCompletionTokens = 150
    /// Return the first response again for a repeated `Idempotency-Key` header (a replay, no new
    /// generation). Azure OpenAI does not document such a header; it is here so the tests can count
    /// generations per job.
    public var honorIdempotencyKey = true
    /// Azure Monitor emulation: 1-minute grain, published this many simulated seconds after the
    /// minute ends.
    public var metricLagSeconds: Double = 120
    /// Seed of the background traffic.
    public var seed: UInt64 = 42
    /// `model` reported in responses.
    public var model = "gpt-4o-2024-11-20"

    /// Creates the default configuration.
    public init() {}
}

/// The capacity model (documented in docs/relay-and-jobs.md), after Microsoft's description of
/// provisioned deployments: a request is admitted unless current utilization is above 100%; it then
/// counts its prompt tokens plus `max_tokens` (or an estimate) at once, and the estimate is replaced
/// by the actual prompt + completion tokens when it finishes. Utilization is the admitted cost inside
/// the sliding window divided by what the capacity serves in that window. Above 100% a request gets
/// 429 with `retry-after-ms` = the time until enough cost leaves the window to be at 100% again.
final class CapacityLedger: Sendable {
    enum Admission {
        case admitted(id: Int, utilization: Double)
        case throttled(retryAfter: Double, utilization: Double)
    }

    struct Entry {
        var time: Double
        var cost: Double
        var id: Int
    }

    struct State {
        var entries: [Entry] = []
        var head = 0
        var sum: Double = 0
        var nextId = 0
        var positions: [Int: Int] = [:]
        /// Highest utilization seen per simulated minute.
        var minuteMax: [Int: Double] = [:]
    }

    let windowSeconds: Double
    let windowCapacity: Double
    private let state = Mutex(State())

    init(tokensPerMinute: Double, windowSeconds: Double) {
        self.windowSeconds = windowSeconds
        windowCapacity = tokensPerMinute / 60 * windowSeconds
    }

    private func expire(_ state: inout State, now: Double) {
        while state.head < state.entries.count, state.entries[state.head].time <= now - windowSeconds {
            let entry = state.entries[state.head]
            state.sum -= entry.cost
            state.positions[entry.id] = nil
            state.head += 1
        }
        if state.head > 4096, state.head * 2 > state.entries.count {
            state.entries.removeFirst(state.head)
            state.head = 0
            for (offset, entry) in state.entries.enumerated() { state.positions[entry.id] = offset }
        }
        if state.sum < 0.000_001 { state.sum = max(0, state.sum) }
    }

    private func percent(_ state: State) -> Double { state.sum / windowCapacity * 100 }

    private func note(_ state: inout State, now: Double) {
        let minute = Int((now / 60).rounded(.down))
        state.minuteMax[minute] = max(state.minuteMax[minute] ?? 0, percent(state))
    }

    /// Admits a request with estimated cost `estimate`, or throttles it.
    func admit(estimate: Double, now: Double) -> Admission {
        state.withLock { state in
            expire(&state, now: now)
            note(&state, now: now)
            let utilization = percent(state)
            if utilization > 100 {
                // Cost that must leave the window to be back at 100%.
                let excess = state.sum - windowCapacity
                var dropped = 0.0
                var index = state.head
                while index < state.entries.count {
                    dropped += state.entries[index].cost
                    if dropped >= excess { break }
                    index += 1
                }
                let leaves = index < state.entries.count ? state.entries[index].time + windowSeconds : now + windowSeconds
                return .throttled(retryAfter: max(0.001, leaves - now), utilization: utilization)
            }
            let id = state.nextId
            state.nextId += 1
            state.positions[id] = state.entries.count
            state.entries.append(Entry(time: now, cost: estimate, id: id))
            state.sum += estimate
            note(&state, now: now)
            return .admitted(id: id, utilization: percent(state))
        }
    }

    /// Replaces an admitted request's estimate with its actual cost (if it is still in the window).
    func settle(id: Int, actual: Double, now: Double) {
        state.withLock { state in
            expire(&state, now: now)
            if let position = state.positions[id] {
                state.sum += actual - state.entries[position].cost
                state.entries[position].cost = actual
            }
            note(&state, now: now)
        }
    }

    /// Current utilization in percent.
    func utilization(now: Double) -> Double {
        state.withLock { state in
            expire(&state, now: now)
            note(&state, now: now)
            return percent(state)
        }
    }

    /// Per-minute maxima of complete minutes that ended at least `lag` seconds before `now`.
    func publishedMinutes(now: Double, lag: Double) -> [(minute: Int, maximum: Double)] {
        state.withLock { state in
            state.minuteMax.filter { Double($0.key + 1) * 60 + lag <= now }.sorted { $0.key < $1.key }.map {
                (minute: $0.key, maximum: $0.value)
            }
        }
    }
}

/// SplitMix64: a small, seedable generator for the background traffic.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The simulator's own token rules (it has no real tokenizer): a token is a whitespace-separated
/// word. Chat prompts follow the shape of OpenAI's chat rule with words as tokens: 3 per message,
/// +1 for a `name`, the words of every text part, +3 to prime the reply. Tests plug the same rules
/// into the relay as its `TokenCounting` to check the fallback arithmetic against the simulator.
public enum SimulatedTokens {
    /// Words in `text`.
    public static func count(_ text: String) -> Int {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).count
    }

    /// Prompt tokens of a chat-completions request (or a Responses API `input`).
    public static func promptTokens(_ object: [String: Any]) -> Int {
        if let messages = object["messages"] as? [Any] {
            var total = 3
            for case let message as [String: Any] in messages {
                total += 3
                if message["name"] != nil { total += 1 }
                total += contentTokens(message["content"])
            }
            return total
        }
        if let input = object["input"] { return 3 + contentTokens(input) }
        return 0
    }

    static func contentTokens(_ content: Any?) -> Int {
        if let text = content as? String { return count(text) }
        var total = 0
        for case let part as [String: Any] in (content as? [Any]) ?? [] {
            if let text = part["text"] as? String { total += count(text) }
            if part["content"] != nil { total += contentTokens(part["content"]) }
        }
        return total
    }

    /// The i-th generated token (a word; all but the first start with a space).
    public static func token(_ index: Int, seed: Int) -> String {
        let word = words[(seed &+ index &* 7) % words.count]
        return index == 0 ? word : " " + word
    }

    static let words = [
        "provisioned", "throughput", "tokens", "capacity", "gateway", "budget", "stream", "relay", "window",
        "minute", "deployment", "utilization", "batch", "online", "queue", "lease", "replica", "settle", "usage",
        "chunk", "event", "delta", "model", "prompt", "answer", "latency", "policy", "product", "report", "cost",
    ]
}
