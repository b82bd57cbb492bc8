import ArgumentParser
import Foundation
import GatewayRuntime

/// `tollgate serve`: runs the runtime service the generated policies call (`/v1/check`, `/v1/usage`, …).
///
/// Reads `runtime-config.json` (written by `tollgate build`) and the environment
/// (`TOLLGATE_DATABASE_URL`, `TOLLGATE_GATEWAY_KEY`, `TOLLGATE_ADMIN_KEY`, Entra ID settings); see
/// docs/runtime.md. Exits 78 on a configuration error, 1 if the server fails, 0 on SIGTERM/SIGINT.
public struct ServeCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the Tollgate runtime service (budgets, usage, reports).",
        discussion: """
            Environment: TOLLGATE_DATABASE_URL (default tollgate.db; sqlite:PATH or postgres://…), \
            TOLLGATE_GATEWAY_KEY, TOLLGATE_ADMIN_KEY, TOLLGATE_ENTRA_ISSUER, TOLLGATE_ENTRA_AUDIENCE, \
            TOLLGATE_ENTRA_JWKS_FILE. Exit codes: 0 stopped, 1 server failure, 78 configuration error.
            """)

    /// Path of the runtime configuration written by `tollgate build`.
    @Option(name: .long, help: "Path of runtime-config.json.")
    public var config: String = "infrastructure/runtime-config.json"

    /// Address to bind.
    @Option(name: .long, help: "Address to bind.")
    public var host: String = "127.0.0.1"

    /// Port to bind.
    @Option(name: .long, help: "Port to bind (0 picks a free port).")
    public var port: Int = 8080

    public init() {}

    public func run() async throws {
        let code = await RuntimeMain.serve(configPath: config, host: host, port: port)
        if code != .success { throw ExitCode(code.rawValue) }
    }
}
