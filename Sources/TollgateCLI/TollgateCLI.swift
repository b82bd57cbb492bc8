import ArgumentParser
import Foundation
import GatewayModel

/// The Tollgate command line as a library.
///
/// A gateway package calls `TollgateCLI.main(gateway)` from its own executable to get `build`,
/// `check` and `print` for its gateway plus every generic command; the `tollgate` executable calls
/// `TollgateCLI.main()` for the commands that need no gateway definition.
public enum TollgateCLI {
    /// Runs the CLI for a gateway defined in Swift.
    public static func main(_ gateway: Gateway) async {
        await GatewayContext.$current.withValue(gateway) {
            await run(GatewayRootCommand.self)
        }
    }

    /// Runs the generic `tollgate` CLI.
    public static func main() async {
        await run(RootCommand.self)
    }

    /// Parses and runs a command, then exits with its status.
    static func run<Root: AsyncParsableCommand>(_ root: Root.Type) async {
        do {
            try await execute(root, arguments: nil)
        } catch {
            if root.exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((root.fullMessage(for: error) + "\n").utf8))
                Foundation.exit(ExitStatus.failure.rawValue)
            }
            root.exit(withError: error)
        }
    }

    /// Parses and runs a command without exiting; usage errors map to exit status 2 (not
    /// ArgumentParser's 64) so CI can tell them from findings.
    static func exitStatus<Root: AsyncParsableCommand>(_ root: Root.Type, arguments: [String]) async -> Int32 {
        do {
            try await execute(root, arguments: arguments)
            return 0
        } catch {
            let code = root.exitCode(for: error)
            return code == .validationFailure ? ExitStatus.failure.rawValue : code.rawValue
        }
    }

    private static func execute<Root: AsyncParsableCommand>(_ root: Root.Type, arguments: [String]?) async throws {
        var command = try root.parseAsRoot(arguments)
        if var asyncCommand = command as? any AsyncParsableCommand {
            try await asyncCommand.run()
        } else {
            try command.run()
        }
    }
}

/// The gateway a `TollgateCLI.main(_:)` executable was started with.
enum GatewayContext {
    @TaskLocal static var current: Gateway?

    static func require() throws -> Gateway {
        guard let gateway = current else {
            throw ValidationError("this command needs a gateway: run it from your gateway's executable (e.g. `swift run contoso-gateway build`)")
        }
        return gateway
    }
}

/// Exit codes shared by every command, so CI can tell findings from failures.
enum ExitStatus {
    /// Findings: diagnostics with errors, drift, differences.
    static let findings = ExitCode(1)
    /// Unreadable input, bad usage, I/O failure.
    static let failure = ExitCode(2)
}

/// Commands that need no gateway definition.
struct RootCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate",
        abstract: "Azure API Management in front of Azure OpenAI, as code.",
        discussion: """
            Exit codes: 0 success, 1 findings (errors, drift or differences), 2 unreadable input or usage error.
            Gateway-specific commands (build, check) live in your gateway's executable, e.g. `swift run contoso-gateway build`.
            """,
        subcommands: GenericCommands.all
    )
}

/// A gateway's own executable: build and check plus every generic command.
struct GatewayRootCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: ProcessName.current,
        abstract: "Build and check this gateway's APIM policies, runtime configuration and infrastructure.",
        discussion: """
            Exit codes: 0 success, 1 findings (errors, drift or differences), 2 unreadable input or usage error.
            """,
        subcommands: [BuildCommand.self, CheckCommand.self] + GenericCommands.all
    )
}

enum GenericCommands {
    static var all: [any ParsableCommand.Type] { [
            ValidateCommand.self, FmtCommand.self, DiffCommand.self, ImportCommand.self, TokensCommand.self,
            EncodingsCommand.self, ServeCommand.self,
        ] }
}

enum ProcessName {
    static var current: String {
        let path = CommandLine.arguments.first ?? "tollgate"
        return path.split(separator: "/").last.map(String.init) ?? "tollgate"
    }
}
