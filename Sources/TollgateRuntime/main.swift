import Foundation
import GatewayRuntime
import NIOCore
import NIOPosix

// Swift concurrency runs on the NIO event loops: a request handler, the relay's backend call and
// the response write stay on one thread instead of hopping between two pools.
NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()

// `tollgate-runtime [--config PATH] [--host HOST] [--port PORT]`: the runtime service alone, for the
// container image. `tollgate serve` does the same from the CLI.
await RuntimeMain.run(arguments: Array(CommandLine.arguments.dropFirst()))
