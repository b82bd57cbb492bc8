public import Foundation
public import GatewayModel
public import UsageAccounting

/// A setting that prevents the runtime from starting. The message names the setting and what is wrong.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    /// What is wrong, for the operator.
    public var message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Entra ID (Azure AD) bearer-token settings.
public struct EntraSettings: Sendable {
    /// Expected `iss` claim, e.g. `https://login.microsoftonline.com/{tenant}/v2.0`.
    public var issuer: String
    /// Expected `aud` claim (the runtime's app id URI or client id).
    public var audience: String
    /// The JSON Web Key Set used to verify RS256 signatures (as read at start-up).
    public var jwksJSON: String
    /// Where the key set came from when it was fetched; the runtime fetches it again when a token
    /// names a key id it does not know (key rollover) and once a day. Nil for a key set from a file.
    public var jwksURL: URL?
    /// App role (in the `roles` claim) that grants admin rights.
    public var adminRole: String

    /// Creates Entra settings.
    public init(issuer: String, audience: String, jwksJSON: String, jwksURL: URL? = nil, adminRole: String = "Tollgate.Admin") {
        self.issuer = issuer
        self.audience = audience
        self.jwksJSON = jwksJSON
        self.jwksURL = jwksURL
        self.adminRole = adminRole
    }
}

/// What a budget alert from Azure Monitor does to the product it names.
public enum AlertAction: String, Sendable, CaseIterable {
    /// Deny further checks for the product (`reason: "blocked"`) until an admin clears it.
    case block
    /// Store the alert only.
    case record
}

/// Everything the runtime needs to start: `runtime-config.json` plus environment.
public struct RuntimeSettings: Sendable {
    /// Address to bind.
    public var host: String
    /// Port to bind (0 picks a free port).
    public var port: Int
    /// `TOLLGATE_DATABASE_URL`: a SQLite path, `sqlite:PATH` or `postgres://…`.
    public var databaseURL: String
    /// `TOLLGATE_GATEWAY_KEY`: the key APIM sends in `X-Tollgate-Key`.
    public var gatewayKey: String?
    /// `TOLLGATE_ADMIN_KEY`: the key admins send in `X-Tollgate-Admin-Key`.
    public var adminKey: String?
    /// Entra ID token validation; nil disables bearer tokens.
    public var entra: EntraSettings?
    /// Products, deployments and pricing written by `tollgate build`.
    public var configuration: RuntimeConfiguration
    /// Where budget periods start.
    public var calendar: PeriodCalendar
    /// How long an unsettled reservation holds budget.
    public var reservationTTL: Int
    /// What a budget alert from Azure Monitor does.
    public var alertAction: AlertAction
    /// Whether to log every request.
    public var logRequests: Bool

    /// Creates settings directly (tests, embedding).
    public init(
        host: String = "127.0.0.1", port: Int = 8080, databaseURL: String = "tollgate.db", gatewayKey: String?,
        adminKey: String?, entra: EntraSettings? = nil, configuration: RuntimeConfiguration,
        calendar: PeriodCalendar = PeriodCalendar(), reservationTTL: Int = 300, alertAction: AlertAction = .record,
        logRequests: Bool = false
    ) {
        self.host = host
        self.port = port
        self.databaseURL = databaseURL
        self.gatewayKey = gatewayKey
        self.adminKey = adminKey
        self.entra = entra
        self.configuration = configuration
        self.calendar = calendar
        self.reservationTTL = reservationTTL
        self.alertAction = alertAction
        self.logRequests = logRequests
    }

    /// Names of the environment variables the runtime reads.
    public enum Variable {
        public static let databaseURL = "TOLLGATE_DATABASE_URL"
        public static let gatewayKey = "TOLLGATE_GATEWAY_KEY"
        public static let adminKey = "TOLLGATE_ADMIN_KEY"
        public static let entraIssuer = "TOLLGATE_ENTRA_ISSUER"
        public static let entraAudience = "TOLLGATE_ENTRA_AUDIENCE"
        public static let entraJWKSFile = "TOLLGATE_ENTRA_JWKS_FILE"
        public static let entraJWKSURL = "TOLLGATE_ENTRA_JWKS_URL"
        public static let entraAdminRole = "TOLLGATE_ENTRA_ADMIN_ROLE"
        public static let reservationTTL = "TOLLGATE_RESERVATION_TTL"
        public static let alertAction = "TOLLGATE_ALERT_ACTION"
        public static let weekStart = "TOLLGATE_WEEK_START"
        public static let monthStartDay = "TOLLGATE_MONTH_START_DAY"
        public static let logRequests = "TOLLGATE_LOG_REQUESTS"
    }

    /// Shortest key accepted, so a placeholder like `changeme` cannot go live.
    public static let minimumKeyLength = 16

    /// Reads `runtime-config.json` at `configPath` and the environment. Every problem is reported
    /// here, before the server binds.
    public static func load(
        configPath: String, host: String, port: Int, environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> RuntimeSettings {
        let configuration = try loadConfiguration(path: configPath)
        func value(_ name: String) -> String? {
            guard let raw = environment[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }
        guard (0...65535).contains(port) else { throw ConfigurationError("--port must be 0…65535, got \(port)") }
        guard !host.isEmpty else { throw ConfigurationError("--host must not be empty") }
        let gatewayKey = value(Variable.gatewayKey)
        let adminKey = value(Variable.adminKey)
        for (name, key) in [(Variable.gatewayKey, gatewayKey), (Variable.adminKey, adminKey)] {
            if let key, key.count < minimumKeyLength {
                throw ConfigurationError("\(name) must be at least \(minimumKeyLength) characters long")
            }
        }
        if let gatewayKey, gatewayKey == adminKey {
            throw ConfigurationError("\(Variable.gatewayKey) and \(Variable.adminKey) must differ")
        }

        var entra: EntraSettings?
        let issuer = value(Variable.entraIssuer)
        let audience = value(Variable.entraAudience)
        let jwksFile = value(Variable.entraJWKSFile)
        let jwksURL = value(Variable.entraJWKSURL)
        if issuer != nil || audience != nil || jwksFile != nil || jwksURL != nil {
            guard let issuer, let audience else {
                throw ConfigurationError(
                    "Entra ID needs both \(Variable.entraIssuer) and \(Variable.entraAudience) (and a JWKS file or URL)")
            }
            let jwks: String
            var jwksSource: URL?
            if let jwksFile {
                guard let data = FileManager.default.contents(atPath: jwksFile) else {
                    throw ConfigurationError("\(Variable.entraJWKSFile): cannot read \(jwksFile)")
                }
                jwks = String(decoding: data, as: UTF8.self)
            } else if let jwksURL {
                guard let url = URL(string: jwksURL), url.scheme == "https" || url.host == "127.0.0.1" else {
                    throw ConfigurationError("\(Variable.entraJWKSURL) must be an https URL")
                }
                do {
                    jwks = try await SigningKeys.fetch(url)
                    jwksSource = url
                } catch {
                    throw ConfigurationError("\(Variable.entraJWKSURL): cannot fetch \(jwksURL): \(error)")
                }
            } else {
                throw ConfigurationError("Entra ID needs \(Variable.entraJWKSFile) or \(Variable.entraJWKSURL)")
            }
            do {
                _ = try await SigningKeys.makeKeys(jwksJSON: jwks)
            } catch {
                throw ConfigurationError("the Entra JWKS is not a valid JSON Web Key Set with RSA keys: \(error)")
            }
            entra = EntraSettings(
                issuer: issuer, audience: audience, jwksJSON: jwks, jwksURL: jwksSource,
                adminRole: value(Variable.entraAdminRole) ?? "Tollgate.Admin")
        }
        if gatewayKey == nil && entra == nil {
            throw ConfigurationError(
                "no credentials configured: set \(Variable.gatewayKey) (and \(Variable.adminKey)) or the Entra ID settings \(Variable.entraIssuer), \(Variable.entraAudience), \(Variable.entraJWKSFile)"
            )
        }

        var ttl = 300
        if let text = value(Variable.reservationTTL) {
            guard let parsed = Int(text), (1...86_400).contains(parsed) else {
                throw ConfigurationError("\(Variable.reservationTTL) must be a number of seconds between 1 and 86400")
            }
            ttl = parsed
        }
        var action = AlertAction.record
        if let text = value(Variable.alertAction) {
            guard let parsed = AlertAction(rawValue: text) else {
                throw ConfigurationError("\(Variable.alertAction) must be block or record")
            }
            action = parsed
        }
        var calendar = PeriodCalendar()
        if let text = value(Variable.weekStart) {
            let days = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
            guard let index = days.firstIndex(of: text.lowercased()) else {
                throw ConfigurationError("\(Variable.weekStart) must be a weekday name such as monday")
            }
            calendar.firstWeekday = index + 1
        }
        if let text = value(Variable.monthStartDay) {
            guard let day = Int(text), (1...28).contains(day) else {
                throw ConfigurationError("\(Variable.monthStartDay) must be a day between 1 and 28")
            }
            calendar.monthStartDay = day
        }
        let databaseURL = value(Variable.databaseURL) ?? "tollgate.db"
        if databaseURL.contains("://"), !(databaseURL.hasPrefix("postgres://") || databaseURL.hasPrefix("postgresql://")
            || databaseURL.hasPrefix("sqlite://"))
        {
            throw ConfigurationError(
                "\(Variable.databaseURL) must be a file path, sqlite:PATH or postgres://…, got \"\(databaseURL)\"")
        }
        return RuntimeSettings(
            host: host, port: port, databaseURL: databaseURL, gatewayKey: gatewayKey, adminKey: adminKey, entra: entra,
            configuration: configuration, calendar: calendar, reservationTTL: ttl, alertAction: action,
            logRequests: value(Variable.logRequests) == "1")
    }

    /// Reads and checks `runtime-config.json`.
    public static func loadConfiguration(path: String) throws -> RuntimeConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read the runtime configuration \(path) (run `tollgate build` to create it)")
        }
        let configuration: RuntimeConfiguration
        do {
            configuration = try JSONDecoder().decode(RuntimeConfiguration.self, from: data)
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            throw ConfigurationError("\(path) is not valid JSON")
        } catch let error as DecodingError {
            throw ConfigurationError("\(path) is not a valid runtime configuration: \(describe(error))")
        } catch {
            throw ConfigurationError("\(path) is not valid JSON: \(error)")
        }
        guard configuration.version == 1 else {
            throw ConfigurationError("\(path): unsupported version \(configuration.version) (this runtime reads version 1)")
        }
        var seen = Set<String>()
        for product in configuration.products {
            guard seen.insert(product.id).inserted else {
                throw ConfigurationError("\(path): product \"\(product.id)\" appears twice")
            }
            let problems = ProductDefinition(product).validationErrors()
            if let first = problems.first {
                throw ConfigurationError("\(path): product \"\(product.id)\": \(first)")
            }
        }
        return configuration
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let text = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.isEmpty ? "top level" : String(text.drop { $0 == "." })
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "missing field \"\(key.stringValue)\"" + (parent == "top level" ? "" : " in \(parent)")
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "wrong type at \(path(context)): \(context.debugDescription)"
        case .dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
