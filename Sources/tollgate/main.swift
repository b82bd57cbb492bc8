import GatewayRuntime
import TollgateCLI

// `tollgate serve` runs the runtime service: its tasks run on the NIO event loops, as in
// `tollgate-runtime` (this must happen before the first task starts).
if CommandLine.arguments.dropFirst().first == "serve" { RuntimeMain.runSwiftConcurrencyOnEventLoops() }
await TollgateCLI.main()
