import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix

/// Exit codes of `tollgate serve` and `tollgate-runtime`.
public enum RuntimeExitCode: Int32, Sendable {
    /// Stopped normally (SIGTERM/SIGINT).
    case success = 0
    /// The server failed while running.
    case failure = 1
    /// Invalid command-line arguments.
    case usage = 64
    /// A configuration or environment setting is missing or invalid; nothing was started.
    case configuration = 78
}

/// Entry point shared by `tollgate-runtime` and `tollgate serve`.
public enum RuntimeMain {
    /// Makes Swift concurrency run its tasks on the NIO event loops instead of its own thread pool,
    /// so that a request handler, the relay's backend call and the response write stay on one
    /// thread. Call it first thing in `main`, before any task starts, and only once per process.
    public static func runSwiftConcurrencyOnEventLoops() {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    /// Loads settings, builds the application and runs it until SIGTERM/SIGINT.
    /// Prints `tollgate-runtime listening on HOST:PORT` once bound. Returns the exit code.
    public static func serve(configPath: String, host: String, port: Int) async -> RuntimeExitCode {
        var logger = Logging.Logger(label: "tollgate.runtime")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logging.Logger.Level.init(rawValue:)) ?? .info
        let settings: RuntimeSettings
        let app: any ApplicationProtocol
        do {
            settings = try await RuntimeSettings.load(configPath: configPath, host: host, port: port)
            let counter = TokenizerCounting()
            if counter.availableEncodings().isEmpty {
                logger.warning(
                    "no verified encodings in \(counter.directory.path); relayed streams without a usage chunk are recorded as unknown — run `tollgate encodings install`")
            }
            app = try await buildApplication(configuration: settings, logger: logger, tokenCounter: counter) { port in
                FileHandle.standardOutput.write(Data("tollgate-runtime listening on \(host):\(port)\n".utf8))
            }
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            return .configuration
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            return .configuration
        }
        do {
            try await app.runService()
            return .success
        } catch {
            FileHandle.standardError.write(Data("error: server stopped: \(error)\n".utf8))
            return .failure
        }
    }

    /// Parses `--config`, `--host`, `--port` (for the small executable) and exits the process.
    public static func run(arguments: [String]) async -> Never {
        var config = ProcessInfo.processInfo.environment["TOLLGATE_CONFIG"] ?? "infrastructure/runtime-config.json"
        var host = "127.0.0.1"
        var port = 8080
        var index = 0
        func usage(_ message: String) -> Never {
            FileHandle.standardError.write(
                Data("error: \(message)\nusage: tollgate-runtime [--config PATH] [--host HOST] [--port PORT]\n".utf8))
            exit(RuntimeExitCode.usage.rawValue)
        }
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--help" || argument == "-h" {
                print("usage: tollgate-runtime [--config PATH] [--host HOST] [--port PORT]\nSee docs/runtime.md.")
                exit(0)
            }
            guard ["--config", "--host", "--port"].contains(argument) else { usage("unknown argument \(argument)") }
            guard index + 1 < arguments.count else { usage("\(argument) needs a value") }
            let value = arguments[index + 1]
            switch argument {
            case "--config": config = value
            case "--host": host = value
            default:
                guard let parsed = Int(value) else { usage("--port must be a number") }
                port = parsed
            }
            index += 2
        }
        exit(await serve(configPath: config, host: host, port: port).rawValue)
    }
}
