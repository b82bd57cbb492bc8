import Synchronization
public import UsageAccounting

/// One budget counter instance: a counter key in one period.
public struct CounterID: Hashable, Sendable {
    public var key: String
    public var periodStart: Int64

    public init(key: String, periodStart: Int64) {
        self.key = key
        self.periodStart = periodStart
    }

    init(_ counter: BudgetCounter) { self.init(key: counter.key, periodStart: counter.periodStart) }
}

/// The in-memory budget ledger of a SQLite runtime: reservations are decided here, under one lock,
/// without touching the database.
///
/// Only correct when a single process owns the database file (`SQLRuntimeStore` takes an exclusive
/// `flock` before it uses a ledger). What is durable and what is not:
/// * `spent` is durable: settlement writes the usage record and adds the cost to `budget_counters`
///   in a SQLite transaction; only after the commit does the ledger learn the new value.
/// * reservations are not: they live only here and are lost when the process stops or crashes. A
///   restart therefore forgets the calls that were in flight (at most their estimated costs can be
///   overspent); their usage reports still settle normally, without a reservation to release.
///
/// Counters are loaded lazily from the database the first time a check touches them. The ledger
/// keeps `spent` as the maximum of every committed value it has seen (from a load or from a
/// settlement's `RETURNING spent`): `spent` only ever grows in the database, so a load that read an
/// older value than a settlement that has already been applied can never move it back.
public final class BudgetLedger: Sendable {
    struct Entry {
        var spent: Int64
        var reserved: Int64
        /// Reservations currently holding this counter.
        var holds: Int
        /// Seconds since 1970 of the last check that used the counter (for eviction).
        var lastUsed: Int64
    }

    struct Reservation {
        var amount: Int64
        var counters: [CounterID]
        var expiresAt: Int64
    }

    struct State {
        var counters: [CounterID: Entry] = [:]
        var reservations: [String: Reservation] = [:]
        /// Request ids by expiry second (may hold ids that were settled since; checked on expiry).
        var expiry: [Int64: [String]] = [:]
        /// Incremented when idle counters are evicted; a load that started before is discarded.
        var epoch: UInt64 = 0
        var lastEviction: Int64 = 0
    }

    private let state = Mutex(State())
    /// Counters untouched for this long, with no reservation, are dropped (reloaded on next use).
    let idleSeconds: Int64

    /// Creates an empty ledger.
    public init(idleSeconds: Int64 = 3600) { self.idleSeconds = idleSeconds }

    /// What `reserve` needs before it can decide.
    public enum Attempt: Sendable {
        /// The decision.
        case decided(ReservationResult)
        /// These counters are not loaded yet; load them and call `install`, then try again.
        case load([CounterID], epoch: UInt64)
    }

    /// Reserves `amount` on every hard counter (all or none), or answers `duplicate` when the request
    /// id already holds a reservation. `tracked` are the counters `remaining` is computed from.
    public func reserve(
        requestId: String, hard: [BudgetCounter], tracked: [BudgetCounter], amount: Int64, expiresAt: Int64, now: Int64
    ) -> Attempt {
        state.withLock { state in
            var missing: [CounterID] = []
            for counter in tracked where state.counters[CounterID(counter)] == nil { missing.append(CounterID(counter)) }
            for counter in hard where state.counters[CounterID(counter)] == nil && !tracked.contains(counter) {
                missing.append(CounterID(counter))
            }
            if !missing.isEmpty { return .load(missing, epoch: state.epoch) }
            for counter in tracked { state.counters[CounterID(counter)]!.lastUsed = now }

            if state.reservations[requestId] != nil {
                let tightest = Self.tightest(state, tracked)
                return .decided(
                    ReservationResult(
                        allowed: true, duplicate: true, remaining: tightest.map { Nanos($0.remaining) },
                        resetAt: tightest?.counter.resetAt))
            }
            // All or nothing: every hard counter must have room before any is touched.
            for counter in hard {
                let entry = state.counters[CounterID(counter)]!
                let room = counter.limit.value - entry.spent - entry.reserved
                if amount > room {
                    return .decided(
                        ReservationResult(
                            allowed: false, duplicate: false, remaining: Nanos(max(0, room)), resetAt: counter.resetAt))
                }
            }
            let ids = hard.map(CounterID.init)
            for id in ids {
                state.counters[id]!.reserved += amount
                state.counters[id]!.holds += 1
            }
            state.reservations[requestId] = Reservation(amount: amount, counters: ids, expiresAt: expiresAt)
            state.expiry[expiresAt, default: []].append(requestId)
            let tightest = Self.tightest(state, tracked)
            return .decided(
                ReservationResult(
                    allowed: true, duplicate: false, remaining: tightest.map { Nanos($0.remaining) },
                    resetAt: tightest?.counter.resetAt))
        }
    }

    private static func tightest(_ state: State, _ counters: [BudgetCounter]) -> (remaining: Int64, counter: BudgetCounter)? {
        var best: (remaining: Int64, counter: BudgetCounter)?
        for counter in counters {
            let entry = state.counters[CounterID(counter)]
            let remaining = max(0, counter.limit.value - (entry?.spent ?? 0) - (entry?.reserved ?? 0))
            if best == nil || remaining < best!.remaining { best = (remaining, counter) }
        }
        return best
    }

    /// Installs counters read from the database (spent as committed). Returns false, installing
    /// nothing, when counters were evicted since `epoch` (the caller loads again).
    @discardableResult
    public func install(_ loaded: [(id: CounterID, spent: Int64)], epoch: UInt64, now: Int64) -> Bool {
        state.withLock { state in
            guard state.epoch == epoch else { return false }
            for (id, spent) in loaded {
                if var entry = state.counters[id] {
                    entry.spent = max(entry.spent, spent)
                    state.counters[id] = entry
                } else {
                    state.counters[id] = Entry(spent: spent, reserved: 0, holds: 0, lastUsed: now)
                }
            }
            return true
        }
    }

    /// Applies a committed settlement: raises `spent` to the committed values and releases the
    /// request's reservation, in one step.
    public func settled(requestId: String, spent: [(id: CounterID, spent: Int64)]) {
        state.withLock { state in
            for (id, value) in spent {
                if var entry = state.counters[id] {
                    entry.spent = max(entry.spent, value)
                    state.counters[id] = entry
                } else {
                    // A committed value is always a valid starting point (see the type's comment).
                    state.counters[id] = Entry(spent: value, reserved: 0, holds: 0, lastUsed: 0)
                }
            }
            Self.release(&state, requestId)
        }
    }

    /// Releases the reservation of `requestId`, if any.
    public func release(requestId: String) {
        state.withLock { state in Self.release(&state, requestId) }
    }

    private static func release(_ state: inout State, _ requestId: String) {
        guard let reservation = state.reservations.removeValue(forKey: requestId) else { return }
        for id in reservation.counters {
            guard var entry = state.counters[id] else { continue }
            entry.reserved = max(0, entry.reserved - reservation.amount)
            entry.holds = max(0, entry.holds - 1)
            state.counters[id] = entry
        }
    }

    /// Releases reservations that expired before `now`; returns how many. Also drops counters that
    /// have been idle for `idleSeconds` and hold nothing (at most every few minutes).
    public func expire(now: Int64) -> Int {
        state.withLock { state in
            var released = 0
            for second in state.expiry.keys where second < now {
                for requestId in state.expiry.removeValue(forKey: second) ?? [] {
                    guard let reservation = state.reservations[requestId], reservation.expiresAt == second else { continue }
                    Self.release(&state, requestId)
                    released += 1
                }
            }
            if now - state.lastEviction >= 300 {
                state.lastEviction = now
                let before = state.counters.count
                state.counters = state.counters.filter { $0.value.holds > 0 || now - $0.value.lastUsed < idleSeconds }
                if state.counters.count != before { state.epoch &+= 1 }
            }
            return released
        }
    }

    /// The counter as the ledger holds it, nil when it is not loaded.
    public func counter(_ id: CounterID) -> CounterState? {
        state.withLock { state in
            state.counters[id].map { CounterState(spent: Nanos($0.spent), reserved: Nanos($0.reserved)) }
        }
    }

    /// Reservations held.
    public var reservationCount: Int { state.withLock { $0.reservations.count } }
}
