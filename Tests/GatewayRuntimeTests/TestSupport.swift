import Foundation
import GatewayModel
import GatewayRuntime
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Logging
import NIOCore
import Testing

/// A test-only RSA key (generated for these tests; it protects nothing).
let testPrivateKeyPEM = """
-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC7tLEy6dX0q4JD
6rD2fQIZ2sRlxyAexdTGNsH198dEz8a71Rv4nJACk1P4zHtDzCeEGgDjZUIVrgu2
of4JKQeI/UHyOFTx9gxp0IU9qfw5eYmUKtDg0XX3WlTr2ouc3D1pkH2T5pA/0ZLQ
3fGS/IGkVglM9AKNQogHueCLhjW/AxKgGbSH6HxBettiJ5voyOly0eTxdO5gBrIS
QXYDdCh7hMzekj17oP6BLEzugvmHKlVfL1xMgLQV2VQICfoleAXhXhPuXl1NruNg
NXgtB4lD0AvATIlMuySZBf5aQpi2ii4qbCL80hJQRWAcTcujciClwtmfIlLszH0r
/HmMrEMHAgMBAAECggEADGXXkQ381xeU7Q4io2/c+amHcKmBp5wC0my/dug8vdYe
Fuib2682Rn/wpe2WSVjCAL8ERqtjfVxs4vfkIuVrh/13o5tbkPe4GNfFqoMAaSjB
O4twbHOpSlh/D2z0l7xm71gJ01ZWj2s05Ugjh+/W/ZcT2i9WaSTMfft6/KbgBJOp
lKpmOjEmy9eJYOUeiYUTYHmtfkOGElYeAIKvuLiSIcKMqkzwGN9q3SVbyKADoKFw
EcYKrbJ9eKgbHd14mvOStqJ5KAG2U/sUvYJ88j7wWDI3gXg+zsBuvbCgHJqw1Tiy
5Rvi9fn1LCjUv6En2pOOzKhminKUz9mvh1X66GgoQQKBgQD0qmQHgYVFhzIxg1eK
u8sTmZ8PnknQTRWh6A3exbItCBP+OqXJBY1Zrh15mQc97+ybq8gJfGDnwntDg6xN
lfyt6393ItUHXovGLHA2h0iyaia6wO8a3W7LNVcc1j9Ps7ntGq4pZKwJQcLFl1yb
v5z857RguGWsCpgjrX/Elcvb0QKBgQDEZsmm6w/YjnXuuVPdr4SfdzMIRKN378Lz
7/dpTefSOua/czcbNaRlbouOpyYVDVdPxHgNoke/XXxboJmxlQfNevHTaaCJ1pvq
WIXUqsJuf52+EkPn2cHA6uqBopmnZ5POOMdk2BWa7g+8/aJS9NxF/eWYKABQKG8h
9bRI3zJfVwKBgQDAIaJlxo9qty1ydmrjlm92F9gyAqKCglYvi7SAsY0nEcXpihKw
lryWpUWePM7UE7oh0TdIQ7UxqqbzsM45K0R/K4UwgFj77YIkALeqCnjLKtL5KxNZ
bHRZ/axIB/M12rRx/tavyM/UgSC73A4sfL+CV05t+cBV5wfsVI4WSXAKUQKBgQCo
VJi8sXcxWliFtN3GgSqgKl/Y1Etu/lYPETryTE1GiClBKZSvg3hVXzvJlkUzge21
dmSW+uGXiJ6PQcS4yUyYtqkRU9S+juuvHRQHRBvE7Sfbwnfk/WPs3usDFMOxETtD
YrKzIejSkvt2NcSsaSVp78Sadp5eFWm6p4ZPds0LnQKBgG+GYImZDwi0zsBkFqOB
xrAH8eOGXzHTCZ6xFtnr1jmxjFs1yy3D3UjeNuUqKTzlTHaVkA9TGOWBYF5InASR
YHJhPK5Fr5z/M9kmNfsFkpnVvvQ47S81h5jn+3cSXb0n0A5g8eSnXJYgpbwX6wDR
p7nqTpN2x/PdxuRR8wRBHX/W
-----END PRIVATE KEY-----
"""

let gatewayKey = "gw-test-key-0123456789abcdef"
let adminKey = "admin-test-key-0123456789abcdef"
let issuer = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0"
let audience = "api://tollgate-test"

/// Both back ends; PostgreSQL needs `TOLLGATE_TEST_POSTGRES_URL` (skipped locally, a failure with CI=true).
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres
    var testDescription: String { rawValue }

    /// The database URL, or nil when the backend is unavailable here.
    func databaseURL(directory: URL) -> String? {
        switch self {
        case .sqlite: return "sqlite:" + directory.appendingPathComponent("tollgate.db").path
        case .postgres:
            guard let url = ProcessInfo.processInfo.environment["TOLLGATE_TEST_POSTGRES_URL"] else {
                if ProcessInfo.processInfo.environment["CI"] == "true" {
                    Issue.record("TOLLGATE_TEST_POSTGRES_URL is not set; CI must start PostgreSQL (scripts/start-postgres.sh)")
                }
                return nil
            }
            return url
        }
    }
}

func base64URL(_ data: Data) -> String {
    data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

/// The JWKS for the test key, published under `kid`.
func testJWKS(kid: String = "test-key") throws -> String {
    let key = try Insecure.RSA.PrivateKey(pem: testPrivateKeyPEM)
    let primitives = try key.publicKey.getKeyPrimitives()
    return """
        {"keys":[{"kty":"RSA","kid":"\(kid)","use":"sig","alg":"RS256","n":"\(base64URL(primitives.modulus))","e":"\(base64URL(primitives.publicExponent))"}]}
        """
}

struct TestClaims: JWTPayload {
    var iss: IssuerClaim
    var aud: AudienceClaim
    var exp: ExpirationClaim
    var nbf: NotBeforeClaim?
    var roles: [String]?
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Signs a token with the test key.
func token(
    issuer: String = issuer, audience: String = audience, expires: Date = Date().addingTimeInterval(600),
    notBefore: Date? = nil, roles: [String]? = nil, kid: String = "test-key"
) async throws -> String {
    let keys = JWTKeyCollection()
    await keys.add(rsa: try Insecure.RSA.PrivateKey(pem: testPrivateKeyPEM), digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
    return try await keys.sign(
        TestClaims(
            iss: IssuerClaim(value: issuer), aud: AudienceClaim(value: [audience]), exp: ExpirationClaim(value: expires),
            nbf: notBefore.map { NotBeforeClaim(value: $0) }, roles: roles),
        kid: JWKIdentifier(string: kid))
}

/// The runtime configuration the tests use: gpt-4o prices from the default table.
func testConfiguration(products: [RuntimeConfiguration.ProductConfiguration] = []) -> RuntimeConfiguration {
    RuntimeConfiguration(
        gateway: "test", runtimeURL: nil, gatewayKeyNamedValue: "tollgate-key", products: products,
        deployments: [
            RuntimeConfiguration.DeploymentConfiguration(
                name: "gpt-4o-ptu", model: "gpt-4o", sku: "ProvisionedManaged", capacity: 50, endpoint: "https://example.invalid",
                targetUtilizationPercent: 70)
        ],
        pricing: .azureOpenAIDefault)
}

func makeSettings(databaseURL: String, products: [RuntimeConfiguration.ProductConfiguration] = [], alertAction: AlertAction = .record)
    throws -> RuntimeSettings
{
    RuntimeSettings(
        host: "127.0.0.1", port: 0, databaseURL: databaseURL, gatewayKey: gatewayKey, adminKey: adminKey,
        entra: EntraSettings(issuer: issuer, audience: audience, jwksJSON: try testJWKS()),
        configuration: testConfiguration(products: products), alertAction: alertAction)
}

/// A temporary directory removed after `body`.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-rt-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}

/// Starts the real server on 127.0.0.1 with a random port and runs `body` against it.
func withRuntime(
    _ backend: Backend, alertAction: AlertAction = .record,
    _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
) async throws {
    try await withTemporaryDirectory { directory in
        guard let url = backend.databaseURL(directory: directory) else { return }
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let app = try await buildApplication(configuration: try makeSettings(databaseURL: url, alertAction: alertAction), logger: logger)
        try await app.test(.live) { client in try await body(client) }
    }
}

struct Reply {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var text: String
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:] }
}

enum Credential { case none, gateway, admin, raw(HTTPField.Name, String) }

extension TestClientProtocol {
    func send(
        _ method: HTTPRequest.Method, _ path: String, _ credential: Credential = .gateway, body: String? = nil
    ) async throws -> Reply {
        var headers: HTTPFields = [.contentType: "application/json"]
        switch credential {
        case .none: break
        case .gateway: headers[HTTPField.Name("X-Tollgate-Key")!] = gatewayKey
        case .admin: headers[HTTPField.Name("X-Tollgate-Admin-Key")!] = adminKey
        case .raw(let name, let value): headers[name] = value
        }
        return try await execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) {
            Reply(status: $0.status, headers: $0.headers, text: String(buffer: $0.body))
        }
    }
}

/// A product body for `/v1/products`.
func productBody(_ id: String, amount: String = "500.00", period: String = "monthly", scope: String = "product") -> String {
    """
    {"id":"\(id)","displayName":"Team \(id)","budgets":[{"amount":"\(amount)","currency":"USD","period":"\(period)","scope":"\(scope)","enforcement":"hard","alertThresholds":[50,80,100]}]}
    """
}

func checkBody(_ requestId: String, product: String, tokens: Int? = nil, model: String = "gpt-4o") -> String {
    """
    {"requestId":"\(requestId)","product":"\(product)","subscription":"sub-1","user":"ann","model":"\(model)"\(tokens.map { ",\"estimatedTokens\":\($0)" } ?? "")}
    """
}

func usageBody(_ requestId: String, product: String, prompt: Int = 1000, completion: Int = 200, cached: Int = 0) -> String {
    """
    {"requestId":"\(requestId)","product":"\(product)","subscription":"sub-1","user":"ann","api":"openai","model":"gpt-4o","deployment":"gpt-4o-ptu","streaming":false,"usage":{"promptTokens":\(prompt),"completionTokens":\(completion),"cachedTokens":\(cached),"reasoningTokens":0}}
    """
}

func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())" }
