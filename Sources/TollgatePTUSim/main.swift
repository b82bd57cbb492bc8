import Foundation
import PTUSimulator

// `tollgate-ptu-sim [--port N] [--tpm TOKENS] [--time-scale X] [--window SECONDS] [--background PERCENT]
//  [--no-utilization-header] [--tokens-per-second N]`: the PTU simulator alone, on 127.0.0.1.
var configuration = PTUSimulatorConfiguration()
var port = 8089
var arguments = Array(CommandLine.arguments.dropFirst())
@MainActor func value(_ name: String) -> String {
    guard !arguments.isEmpty else {
        FileHandle.standardError.write(Data("error: \(name) needs a value\n".utf8))
        exit(64)
    }
    return arguments.removeFirst()
}
@MainActor func number(_ name: String) -> Double {
    let text = value(name)
    guard let parsed = Double(text), parsed >= 0 else {
        FileHandle.standardError.write(Data("error: \(name) must be a non-negative number, got \(text)\n".utf8))
        exit(64)
    }
    return parsed
}
while !arguments.isEmpty {
    let argument = arguments.removeFirst()
    switch argument {
    case "--port": port = Int(number(argument))
    case "--tpm": configuration.tokensPerMinute = number(argument)
    case "--time-scale": configuration.timeScale = max(0.001, number(argument))
    case "--window": configuration.windowSeconds = max(0.001, number(argument))
    case "--background": configuration.backgroundLoadPercent = number(argument)
    case "--tokens-per-second": configuration.tokensPerSecond = max(0.001, number(argument))
    case "--ttft": configuration.timeToFirstToken = number(argument)
    case "--no-utilization-header": configuration.sendUtilizationHeader = false
    case "--help", "-h":
        print("""
            usage: tollgate-ptu-sim [--port N] [--tpm TOKENS_PER_MINUTE] [--time-scale X] [--window SECONDS]
                                    [--background PERCENT] [--tokens-per-second N] [--ttft SECONDS] [--no-utilization-header]
            Serves POST /openai/deployments/{name}/chat/completions on 127.0.0.1, plus GET /_sim/stats,
            /_sim/requests/{id}, /_sim/generations and /_sim/metrics. See docs/relay-and-jobs.md.
            """)
        exit(0)
    default:
        FileHandle.standardError.write(Data("error: unknown argument \(argument)\n".utf8))
        exit(64)
    }
}
let simulator = PTUSimulator(configuration: configuration)
let (bound, task) = try await simulator.run(port: port)
print("tollgate-ptu-sim listening on 127.0.0.1:\(bound)")
try await task.value
