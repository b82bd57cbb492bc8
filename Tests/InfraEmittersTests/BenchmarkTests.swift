import Foundation
import InfraEmitters
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Process CPU time in seconds (the shared build machines make wall-clock time noisy).
private func cpuSeconds() -> Double { Double(clock()) / Double(CLOCKS_PER_SEC) }

/// Emits Bicep + Terraform for 1,000 products × 5 APIs and prints the time. A benchmark, not a
/// timed test: run it with `TOLLGATE_BENCHMARK=1 swift test -c release --filter InfraEmittersTests.BenchmarkTests`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["TOLLGATE_BENCHMARK"] == "1"))
struct BenchmarkTests {
    @Test func thousandProductsFiveAPIs() throws {
        let gateway = LargeGateway.make(products: 1000, apis: 5)
        var best = Duration.seconds(1000)
        var bestCPU = Double.infinity
        var bytes = 0
        var fileCount = 0
        for _ in 0..<3 {
            let clock = ContinuousClock()
            var files: [String: String] = [:]
            let cpuStart = cpuSeconds()
            let elapsed = try clock.measure { files = try InfrastructureEmitter.files(for: gateway) }
            bestCPU = min(bestCPU, cpuSeconds() - cpuStart)
            best = min(best, elapsed)
            bytes = files.values.reduce(0) { $0 + $1.utf8.count }
            fileCount = files.count
        }
        print("benchmark: 1000 products x 5 APIs -> \(fileCount) files, \(bytes / 1024) KiB of Bicep + Terraform in \(best) wall, \(bestCPU) s CPU (best of 3)")
        let clock = ContinuousClock()
        let bicep = try clock.measure { _ = try BicepEmitter.files(for: gateway) }
        let terraform = try clock.measure { _ = try TerraformEmitter.files(for: gateway) }
        print("benchmark: Bicep alone \(bicep), Terraform alone \(terraform)")
    }
}
