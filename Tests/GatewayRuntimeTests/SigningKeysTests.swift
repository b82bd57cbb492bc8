import Foundation
import GatewayModel
import HTTPTypes
import Hummingbird
import Logging
import Synchronization
import Testing
@testable import GatewayRuntime

/// Entra ID key rollover: the runtime fetches the JWKS again for an unknown key id, at most once per
/// interval, and keeps its keys when the fetch fails.
@Suite struct SigningKeysTests {
    /// A JWKS endpoint on 127.0.0.1 whose document the test changes, counting fetches.
    final class KeySetServer: Sendable {
        let document: Mutex<(body: String, status: HTTPResponse.Status)>
        let fetches = Atomic<Int>(0)
        init(_ body: String) { document = Mutex((body, .ok)) }

        func run(_ body: @escaping @Sendable (URL) async throws -> Void) async throws {
            let router = Router()
            router.get("/discovery/v2.0/keys") { _, _ -> Response in
                self.fetches.add(1, ordering: .relaxed)
                let (text, status) = self.document.withLock { $0 }
                return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
            }
            let port = AsyncStream<Int>.makeStream()
            let app = Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { channel in port.continuation.yield(channel.localAddress?.port ?? 0) },
                logger: Logger(label: "jwks-test"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.runService(gracefulShutdownSignals: []) }
                var ports = port.stream.makeAsyncIterator()
                let bound = await ports.next() ?? 0
                try await body(URL(string: "http://127.0.0.1:\(bound)/discovery/v2.0/keys")!)
                group.cancelAll()
            }
        }
    }

    func authenticator(jwks: String, source: URL?) async throws -> Authenticator {
        var settings = try makeSettings(databaseURL: "sqlite::memory:")
        settings.entra = EntraSettings(issuer: issuer, audience: audience, jwksJSON: jwks, jwksURL: source)
        return try await Authenticator(settings: settings)
    }

    func check(_ authenticator: Authenticator, kid: String) async throws -> Result<Principal, AuthFailure> {
        let headers: HTTPFields = [.authorization: "Bearer \(try await token(kid: kid))"]
        return await authenticator.authenticate(headers, needsAdmin: false)
    }

    @Test func rotatedKeyIsFetchedOnceAndForgedKeyIdsDoNotCauseMoreFetches() async throws {
        let server = KeySetServer(try testJWKS(kid: "old-key"))
        try await server.run { url in
            let authenticator = try await authenticator(jwks: try testJWKS(kid: "old-key"), source: url)
            #expect(try await check(authenticator, kid: "old-key") == .success(.gateway))
            #expect(server.fetches.load(ordering: .relaxed) == 0)

            // Entra rolls over to a new key: the first token signed with it triggers one fetch.
            server.document.withLock { $0.body = try! testJWKS(kid: "new-key") }
            #expect(try await check(authenticator, kid: "new-key") == .success(.gateway))
            #expect(server.fetches.load(ordering: .relaxed) == 1)
            #expect(try await check(authenticator, kid: "new-key") == .success(.gateway))

            // Unknown key ids within the interval are rejected without fetching again.
            for forged in ["forged-1", "forged-2", "forged-3"] {
                #expect(try await check(authenticator, kid: forged) == .failure(.unauthorized))
            }
            #expect(server.fetches.load(ordering: .relaxed) == 1)
        }
    }

    @Test func failedFetchKeepsTheCurrentKeys() async throws {
        let server = KeySetServer(try testJWKS(kid: "old-key"))
        try await server.run { url in
            let keys = try await SigningKeys(
                initialJWKS: try testJWKS(kid: "old-key"), source: url, minimumRefreshInterval: .zero, maximumAge: .zero,
                logger: Logger(label: "test"))
            server.document.withLock { $0 = ("<html>maintenance</html>", .serviceUnavailable) }
            let payload = try await keys.verify(try await token(kid: "old-key"), as: EntraClaims.self)
            #expect(payload.aud.value == [audience])
            #expect(server.fetches.load(ordering: .relaxed) == 1)
            // Stale keys are fetched again on the next request once the source answers.
            server.document.withLock { $0 = (try! testJWKS(kid: "new-key"), .ok) }
            _ = try await keys.verify(try await token(kid: "new-key"), as: EntraClaims.self)
            #expect(server.fetches.load(ordering: .relaxed) >= 2)
        }
    }

    @Test func fileKeysAreNeverFetched() async throws {
        let authenticator = try await authenticator(jwks: try testJWKS(kid: "old-key"), source: nil)
        #expect(try await check(authenticator, kid: "new-key") == .failure(.unauthorized))
    }
}
