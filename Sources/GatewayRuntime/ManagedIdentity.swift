import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization

/// Where a managed-identity token comes from. Two documented local protocols exist, and neither
/// needs a secret in Tollgate's configuration:
///
/// - **App Service / Azure Functions / Container Apps**: the platform sets `IDENTITY_ENDPOINT` (a
///   local URL) and `IDENTITY_HEADER`; a token is `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=…`
///   (optionally `&client_id=…` for a user-assigned identity) with the header
///   `X-IDENTITY-HEADER: {IDENTITY_HEADER}`.
/// - **Virtual machines, scale sets, AKS with pod identity**: the instance metadata service (IMDS),
///   `GET http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=…`
///   (optionally `&client_id=…`) with the header `Metadata: true`.
///
/// Both answer `{"access_token":"…","expires_on":"<seconds since 1970>","token_type":"Bearer",…}`
/// (IMDS adds `expires_in`). Tests point ``appService(endpoint:header:)`` or ``imds(endpoint:)`` at a
/// loopback server that speaks the same protocol: there is no other way to exercise this offline.
public struct ManagedIdentityEndpoint: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        case appService = "app-service"
        case imds
    }

    public var kind: Kind
    /// The token URL without query.
    public var url: String
    /// `IDENTITY_HEADER` (App Service style only).
    public var secretHeader: String?

    /// The instance metadata service's address.
    public static let imdsURL = "http://169.254.169.254/metadata/identity/oauth2/token"

    public static func appService(endpoint: String, header: String) -> ManagedIdentityEndpoint {
        ManagedIdentityEndpoint(kind: .appService, url: endpoint, secretHeader: header)
    }

    public static func imds(endpoint: String = imdsURL) -> ManagedIdentityEndpoint {
        ManagedIdentityEndpoint(kind: .imds, url: endpoint, secretHeader: nil)
    }

    /// App Service style when `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set, IMDS otherwise
    /// (`TOLLGATE_IMDS_ENDPOINT` overrides the IMDS address, for tests).
    public static func detect(environment: [String: String]) -> ManagedIdentityEndpoint {
        if let endpoint = environment["IDENTITY_ENDPOINT"], !endpoint.isEmpty, let header = environment["IDENTITY_HEADER"],
            !header.isEmpty
        {
            return .appService(endpoint: endpoint, header: header)
        }
        if let endpoint = environment["TOLLGATE_IMDS_ENDPOINT"], !endpoint.isEmpty { return .imds(endpoint: endpoint) }
        return .imds()
    }

    /// The token request for `resource` (and a user-assigned identity's `clientId`).
    func request(resource: String, clientId: String?) -> HTTPClientRequest {
        var items = [
            URLQueryItem(name: "api-version", value: kind == .appService ? "2019-08-01" : "2018-02-01"),
            URLQueryItem(name: "resource", value: resource),
        ]
        if let clientId { items.append(URLQueryItem(name: "client_id", value: clientId)) }
        var components = URLComponents()
        components.queryItems = items
        let query = (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        var request = HTTPClientRequest(url: url + (url.contains("?") ? "&" : "?") + query)
        request.method = .GET
        switch kind {
        case .appService: request.headers.add(name: "X-IDENTITY-HEADER", value: secretHeader ?? "")
        case .imds: request.headers.add(name: "Metadata", value: "true")
        }
        return request
    }
}

/// Errors of ``ManagedIdentityTokenProvider``. Messages never contain a token or the identity header.
public struct ManagedIdentityError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// Gets access tokens for a managed identity and caches them per resource until shortly before
/// they expire (`expires_on`, or `expires_in` when that is missing). Concurrent callers share one
/// request per resource.
public final class ManagedIdentityTokenProvider: Sendable {
    public let endpoint: ManagedIdentityEndpoint
    /// Client id of a user-assigned identity (nil: the system-assigned one).
    public let clientId: String?
    /// A token is refreshed this many seconds before it expires.
    public let refreshMargin: Double
    private let client: HTTPClient
    private let timeout: Int64
    private let now: @Sendable () -> Date

    struct Cached {
        var token: String
        var expiresOn: Date
        /// When it was obtained (a short-lived token is refreshed at half its life at the latest).
        var obtained: Date

        func usable(at time: Date, margin: Double) -> Bool {
            let lifetime = expiresOn.timeIntervalSince(obtained)
            return expiresOn.timeIntervalSince(time) > min(margin, lifetime / 2)
        }
    }

    private let cache = Mutex<[String: Cached]>([:])
    private let inFlight = Mutex<[String: Task<Cached, any Error>]>([:])

    public init(
        endpoint: ManagedIdentityEndpoint, clientId: String? = nil, client: HTTPClient, refreshMargin: Double = 300,
        timeoutSeconds: Int64 = 10, now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.timeout = timeoutSeconds
        self.endpoint = endpoint
        self.clientId = clientId.flatMap { $0.isEmpty ? nil : $0 }
        self.client = client
        self.refreshMargin = refreshMargin
        self.now = now
    }

    /// A valid access token for `resource` (e.g. `https://management.azure.com/`).
    public func token(resource: String) async throws -> String {
        let current = now()
        if let cached = cache.withLock({ $0[resource] }), cached.usable(at: current, margin: refreshMargin) {
            return cached.token
        }
        let task = inFlight.withLock { tasks -> Task<Cached, any Error> in
            if let running = tasks[resource] { return running }
            let task = Task { try await self.fetch(resource: resource) }
            tasks[resource] = task
            return task
        }
        do {
            let fresh = try await task.value
            cache.withLock { $0[resource] = fresh }
            inFlight.withLock { $0[resource] = nil }
            return fresh.token
        } catch {
            inFlight.withLock { $0[resource] = nil }
            throw error
        }
    }

    /// Forgets the cached token for `resource` (e.g. after the service answered 401).
    public func invalidate(resource: String) {
        cache.withLock { $0[resource] = nil }
    }

    private func fetch(resource: String) async throws -> Cached {
        let request = endpoint.request(resource: resource, clientId: clientId)
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .seconds(timeout))
            body = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw ManagedIdentityError(description: "managed identity endpoint (\(endpoint.kind.rawValue)) unreachable: \(error)")
        }
        guard response.status == .ok else {
            throw ManagedIdentityError(
                description: "managed identity endpoint (\(endpoint.kind.rawValue)) answered \(response.status.code) for \(resource)")
        }
        return try Self.parse(Data(body.readableBytesView), now: now())
    }

    /// Reads `access_token` and its expiry from a token answer.
    static func parse(_ data: Data, now: Date) throws -> Cached {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let token = object["access_token"] as? String, !token.isEmpty
        else { throw ManagedIdentityError(description: "managed identity answer has no access_token") }
        func number(_ key: String) -> Double? {
            if let value = object[key] as? NSNumber { return value.doubleValue }
            if let text = object[key] as? String { return Double(text.trimmingCharacters(in: .whitespaces)) }
            return nil
        }
        let expiresOn: Date
        if let seconds = number("expires_on") {
            expiresOn = Date(timeIntervalSince1970: seconds)
        } else if let seconds = number("expires_in") {
            expiresOn = now.addingTimeInterval(seconds)
        } else {
            // No expiry given: use it once more for a minute at most.
            expiresOn = now.addingTimeInterval(60)
        }
        return Cached(token: token, expiresOn: expiresOn, obtained: now)
    }
}
