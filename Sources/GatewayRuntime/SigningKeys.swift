import Foundation
import JWTKit
import Logging
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The Entra ID signing keys, refreshed from the JWKS URL when they rotate.
///
/// A token must name its key (`kid`) and the key must be in the set (jwt-kit alone would fall back
/// to a default key). Entra ID rolls its signing keys over without notice; a token signed with a key
/// id the runtime has not seen makes it fetch the key set again (at most once per `minimumRefreshInterval`, so a flood
/// of forged key ids cannot turn into a flood of fetches), and keys older than `maximumAge` are
/// fetched again on the next request. A failed fetch keeps the keys already held. Keys read from a
/// file are never refreshed.
final class SigningKeys: Sendable {
    /// Where refreshed key sets come from; nil for a fixed key set.
    let source: URL?
    let minimumRefreshInterval: Duration
    let maximumAge: Duration
    let logger: Logger
    private let state: Mutex<State>

    private struct State {
        var keys: JWTKeyCollection
        var keyIDs: Set<String>
        var fetchedAt: ContinuousClock.Instant
        var lastAttempt: ContinuousClock.Instant
        var refreshing = false
    }

    init(
        initialJWKS: String, source: URL?, minimumRefreshInterval: Duration = .seconds(300),
        maximumAge: Duration = .seconds(86_400), logger: Logger
    ) async throws {
        self.source = source
        self.minimumRefreshInterval = minimumRefreshInterval
        self.maximumAge = maximumAge
        self.logger = logger
        let now = ContinuousClock.now
        state = Mutex(State(
            keys: try await Self.makeKeys(jwksJSON: initialJWKS), keyIDs: Self.keyIDs(jwksJSON: initialJWKS),
            fetchedAt: now, lastAttempt: now - minimumRefreshInterval))
    }

    /// A key collection holding the keys of a JWKS.
    static func makeKeys(jwksJSON: String) async throws -> JWTKeyCollection {
        let keys = JWTKeyCollection()
        try await keys.add(jwksJSON: jwksJSON)
        return keys
    }

    /// The `kid` values of a JWKS.
    static func keyIDs(jwksJSON: String) -> Set<String> {
        guard let object = try? JSONSerialization.jsonObject(with: Data(jwksJSON.utf8)) as? [String: Any],
            let keys = object["keys"] as? [[String: Any]]
        else { return [] }
        return Set(keys.compactMap { $0["kid"] as? String })
    }

    /// The `kid` in a compact JWS's protected header, if it has one.
    static func keyID(ofToken token: String) -> String? {
        guard let header = token.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).first else { return nil }
        var base64 = header.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return object["kid"] as? String
    }

    /// Fetches a JWKS document; a non-2xx answer is an error.
    static func fetch(_ url: URL) async throws -> String {
        var request = URLRequest(url: url)
        request.timeoutInterval = 10
        let (data, response) = try await URLSession.shared.data(for: request)
        if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
            throw ConfigurationError("HTTP \(http.statusCode) from \(url.absoluteString)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Verifies `token`, which must name (`kid`) one of the key set's keys; the key set is fetched
    /// again first when the keys are stale or, once, when the key id is unknown.
    func verify<Payload: JWTPayload>(_ token: String, as payload: Payload.Type) async throws -> Payload {
        guard let keyID = Self.keyID(ofToken: token) else { throw JWTError.missingKIDHeader }
        if shouldRefresh(unknownKey: false) { await refresh() }
        var current = state.withLock { ($0.keys, $0.keyIDs) }
        if !current.1.contains(keyID) {
            guard shouldRefresh(unknownKey: true) else { throw JWTError.unknownKID(JWKIdentifier(string: keyID)) }
            await refresh()
            current = state.withLock { ($0.keys, $0.keyIDs) }
            guard current.1.contains(keyID) else { throw JWTError.unknownKID(JWKIdentifier(string: keyID)) }
        }
        return try await current.0.verify(token, as: payload)
    }

    /// Claims the right to refresh: true for exactly one caller when a refresh is due.
    private func shouldRefresh(unknownKey: Bool) -> Bool {
        guard source != nil else { return false }
        let now = ContinuousClock.now
        return state.withLock { state in
            let due = now - state.lastAttempt >= minimumRefreshInterval && (unknownKey || now - state.fetchedAt >= maximumAge)
            guard !state.refreshing, due else { return false }
            state.refreshing = true
            state.lastAttempt = now
            return true
        }
    }

    private func refresh() async {
        guard let source else { return }
        do {
            let document = try await Self.fetch(source)
            let keys = try await Self.makeKeys(jwksJSON: document)
            let keyIDs = Self.keyIDs(jwksJSON: document)
            state.withLock { state in
                state.keys = keys
                state.keyIDs = keyIDs
                state.fetchedAt = .now
                state.refreshing = false
            }
            logger.info("refreshed the Entra ID signing keys", metadata: ["jwks": "\(source.absoluteString)"])
        } catch {
            state.withLock { $0.refreshing = false }
            logger.warning(
                "cannot refresh the Entra ID signing keys; keeping the current ones",
                metadata: ["jwks": "\(source.absoluteString)", "error": "\(error)"])
        }
    }
}
