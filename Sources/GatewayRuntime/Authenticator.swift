import Foundation
import HTTPTypes
import JWTKit
import Logging

/// Who a request acts for.
public enum Principal: Sendable, Equatable {
    /// The gateway (APIM) or an Entra principal without the admin role.
    case gateway
    /// An operator with the admin key or the admin role.
    case admin
}

/// Authentication failures. Responses never say which part of the credential was wrong.
public enum AuthFailure: Error, Equatable {
    /// No or invalid credentials: 401.
    case unauthorized
    /// Valid credentials without the needed right: 403.
    case forbidden
}

/// The claims Tollgate reads from an Entra ID access token.
struct EntraClaims: JWTPayload {
    var iss: IssuerClaim
    var aud: AudienceClaim
    var exp: ExpirationClaim
    var nbf: NotBeforeClaim?
    var roles: [String]?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        try nbf?.verifyNotBefore()
    }
}

/// Checks gateway keys, admin keys and Entra ID bearer tokens.
public struct Authenticator: Sendable {
    let gatewayKey: [UInt8]?
    let adminKey: [UInt8]?
    let entra: EntraSettings?
    let keys: SigningKeys?
    let gatewayHeader: HTTPField.Name
    let adminHeader: HTTPField.Name

    /// Builds an authenticator from settings.
    public init(settings: RuntimeSettings, logger: Logger = Logger(label: "tollgate.auth")) async throws {
        gatewayKey = settings.gatewayKey.map { Array($0.utf8) }
        adminKey = settings.adminKey.map { Array($0.utf8) }
        entra = settings.entra
        if let entra = settings.entra {
            keys = try await SigningKeys(initialJWKS: entra.jwksJSON, source: entra.jwksURL, logger: logger)
        } else {
            keys = nil
        }
        gatewayHeader = HTTPField.Name(settings.configuration.gatewayKeyHeader) ?? HTTPField.Name("X-Tollgate-Key")!
        adminHeader = HTTPField.Name(settings.configuration.adminKeyHeader) ?? HTTPField.Name("X-Tollgate-Admin-Key")!
    }

    /// Compares two byte strings in time that depends only on the expected length.
    static func constantTimeEquals(_ given: some Collection<UInt8>, _ expected: [UInt8]) -> Bool {
        let given = Array(given)
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for index in expected.indices {
            let byte = index < given.count ? given[index] : 0
            difference |= byte ^ expected[index]
        }
        return difference == 0
    }

    /// The principal a request's headers prove, or a failure. `needsAdmin` turns a valid non-admin
    /// credential into `forbidden`.
    public func authenticate(_ headers: HTTPFields, needsAdmin: Bool) async -> Result<Principal, AuthFailure> {
        if let given = headers[adminHeader] {
            if let adminKey, Self.constantTimeEquals(given.utf8, adminKey) { return .success(.admin) }
            return .failure(.unauthorized)
        }
        if let given = headers[gatewayHeader] {
            guard let gatewayKey, Self.constantTimeEquals(given.utf8, gatewayKey) else { return .failure(.unauthorized) }
            return needsAdmin ? .failure(.forbidden) : .success(.gateway)
        }
        if let authorization = headers[.authorization] {
            guard let entra, let keys, authorization.count > 7,
                  authorization.prefix(7).lowercased() == "bearer "
            else { return .failure(.unauthorized) }
            let token = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
            do {
                let claims = try await keys.verify(token, as: EntraClaims.self)
                guard claims.iss.value == entra.issuer else { return .failure(.unauthorized) }
                try claims.aud.verifyIntendedAudience(includes: entra.audience)
                let isAdmin = claims.roles?.contains(entra.adminRole) ?? false
                if needsAdmin && !isAdmin { return .failure(.forbidden) }
                return .success(isAdmin ? .admin : .gateway)
            } catch {
                return .failure(.unauthorized)
            }
        }
        return .failure(.unauthorized)
    }
}
