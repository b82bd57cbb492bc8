/// Status of a batch job (`/v1/jobs`).
///
/// ```
/// queued ──lease──▶ dispatched ──200──▶ succeeded
///   │  ▲               │ 429 / 5xx / lease expired (attempts left) ──▶ queued (or re-leased)
///   │  └───────────────┘ 4xx, attempts exhausted ──▶ failed
///   ├─ DELETE ─▶ cancelled
///   └─ notAfter passed ─▶ expired   (also from dispatched when its lease lapses after notAfter)
/// ```
public enum JobStatus: String, Sendable, Codable, CaseIterable {
    case queued, dispatched, succeeded, failed, expired, cancelled

    /// No transition leaves a terminal status.
    public var isTerminal: Bool {
        switch self {
        case .succeeded, .failed, .expired, .cancelled: true
        case .queued, .dispatched: false
        }
    }

    /// Whether the state machine allows `self → next`.
    public func canTransition(to next: JobStatus) -> Bool {
        switch (self, next) {
        case (.queued, .dispatched), (.queued, .cancelled), (.queued, .expired): true
        case (.dispatched, .succeeded), (.dispatched, .failed), (.dispatched, .queued), (.dispatched, .expired): true
        // A lease that lapsed (replica died) is taken over by another replica.
        case (.dispatched, .dispatched): true
        default: false
        }
    }
}

/// What a dispatcher does with the outcome of one backend call for a job.
public enum JobOutcome: Sendable, Equatable {
    /// Store the result and bill it.
    case succeed
    /// Put the job back in the queue, to be retried after the delay (seconds).
    case retry(after: Double)
    /// Give up: the job fails with this reason.
    case fail(String)

    /// Decides the next step for HTTP `status` (nil: network error) after `attempts` attempts that
    /// were not throttled, out of `maxAttempts`. 429 never uses up an attempt; it is retried after
    /// `retry-after-ms` (`retryAfter`, seconds) unless `notAfter` would pass first.
    public static func decide(
        status: Int?, attempts: Int, maxAttempts: Int, retryAfter: Double?, backoff: RetryBackoff, random: Double
    ) -> JobOutcome {
        switch status {
        case .some(200..<300):
            return .succeed
        case .some(429):
            return .retry(after: backoff.delay(attempt: 1, retryAfter: retryAfter ?? 1, random: random))
        case .some(408), .some(500...599), .none:
            if attempts >= maxAttempts {
                return .fail(status.map { "backend answered \($0) on \(attempts) attempts" } ?? "backend unreachable on \(attempts) attempts")
            }
            return .retry(after: backoff.delay(attempt: attempts, retryAfter: retryAfter, random: random))
        case .some(let code):
            return .fail("backend answered \(code)")
        }
    }
}

/// Counts tokens where the backend gave no usage (streams without a usage chunk, interrupted
/// streams). The `Tokenizer` module's chat counter conforms after the merge; without one, the relay
/// records such calls as `unknown` and bills nothing it cannot count.
public protocol TokenCounting: Sendable {
    /// Prompt tokens of a chat-completions (or Responses) request body for `model`; nil if it cannot
    /// be counted exactly (unknown model, unsupported content).
    func promptTokens(requestBody: [UInt8], model: String) -> Int?
    /// Tokens of generated text for `model`; nil if it cannot be counted exactly.
    func completionTokens(text: String, model: String) -> Int?
}

/// Where the tokens billed for a relayed call came from.
public enum AccountingSource: String, Sendable, Codable {
    /// The backend's usage object (the final usage chunk of a stream, or the body's `usage`).
    case usage
    /// Counted by the configured ``TokenCounting`` (prompt from the request, completion from the
    /// text actually received).
    case tokenizer
    /// Neither: no usage arrived and no counter is configured (or it could not count). Nothing is
    /// billed; the call is recorded with unknown token counts.
    case unknown
}
