import GatewayRuntime

// `tollgate-runtime [--config PATH] [--host HOST] [--port PORT]`: the runtime service alone, for the
// container image. `tollgate serve` does the same from the CLI.
RuntimeMain.runSwiftConcurrencyOnEventLoops()
await RuntimeMain.run(arguments: Array(CommandLine.arguments.dropFirst()))
