// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "tollgate",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "GatewayModel", targets: ["GatewayModel"]),
        .library(name: "GatewayDSL", targets: ["GatewayDSL"]),
        .library(name: "PolicyXML", targets: ["PolicyXML"]),
        .library(name: "PolicyCompiler", targets: ["PolicyCompiler"]),
        .library(name: "Tokenizer", targets: ["Tokenizer"]),
        .library(name: "TollgateCLI", targets: ["TollgateCLI"]),
        .executable(name: "tollgate", targets: ["tollgate"]),
        .executable(name: "contoso-gateway", targets: ["ContosoGateway"]),
        .executable(name: "tollgate-runtime", targets: ["TollgateRuntime"]),
        .executable(name: "tollgate-bench-tokenizer", targets: ["TokenizerBench"]),
        .executable(name: "tollgate-bench-policyxml", targets: ["PolicyXMLBench"]),
        .executable(name: "tollgate-bench-build", targets: ["BuildBench"]),
        .library(name: "PTUSimulator", targets: ["PTUSimulator"]),
        .executable(name: "tollgate-ptu-sim", targets: ["TollgatePTUSim"]),
        .executable(name: "ptu-bench", targets: ["PTUBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // Runtime service (issue 6).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // Streaming relay and batch dispatcher (issue 7).
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.86.0"),
    ],
    targets: [
        // Plain values describing a gateway; no behaviour beyond validation-free helpers.
        .target(name: "GatewayModel", swiftSettings: strict),
        // Result builders that produce GatewayModel values and remember #fileID/#line.
        .target(name: "GatewayDSL", dependencies: ["GatewayModel"], swiftSettings: strict),
        // libxml2 through pkg-config; never call this module `libxml2`.
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]
        ),
        // XML tree, deterministic writer, expression-aware reader, canonical form, diff, XSD.
        .target(name: "PolicyXML", dependencies: ["CLibXML2"], swiftSettings: strict),
        // Benchmark: read + canonicalize the policy corpus in-process versus xmllint once per file.
        .executableTarget(name: "PolicyXMLBench", dependencies: ["PolicyXML"], swiftSettings: strict),
        // Whole-build benchmark: 1,000 products × 5 APIs → XML, runtime config, Bicep, Terraform.
        .executableTarget(name: "BuildBench", dependencies: ["PolicyCompiler", "InfraEmitters"], swiftSettings: strict),
        // Diagnostic values and their renderers (text and JSON).
        .target(name: "Diagnostics", swiftSettings: strict),
        // Model → policy documents and fragments, plus the policy rule table.
        .target(
            name: "PolicyCompiler",
            dependencies: ["GatewayModel", "PolicyXML", "Diagnostics"],
            swiftSettings: strict
        ),
        // tiktoken-compatible BPE tokenizer; depends on nothing else in the package.
        .target(name: "Tokenizer", swiftSettings: strict),
        // `swift run -c release tollgate-bench-tokenizer`: throughput, load time and memory vs tiktoken.
        .executableTarget(name: "TokenizerBench", dependencies: ["Tokenizer"], swiftSettings: strict),
        // The command-line interface as a library so a user's package can call TollgateCLI.main(gateway).
        .target(
            name: "TollgateCLI",
            dependencies: [
                "GatewayModel", "PolicyXML", "PolicyCompiler", "Diagnostics", "Tokenizer", "InfraEmitters",
                "GatewayRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // Bicep and Terraform syntax trees, renderers and the model → infrastructure emitters.
        .target(name: "InfraEmitters", dependencies: ["GatewayModel"], swiftSettings: strict),
        .executableTarget(name: "tollgate", dependencies: ["TollgateCLI", "GatewayRuntime"], swiftSettings: strict),
        // The example gateway: `swift run contoso-gateway build`.
        .executableTarget(
            name: "ContosoGateway",
            dependencies: ["GatewayDSL", "TollgateCLI"],
            swiftSettings: strict
        ),

        // Four corpus policy files brought in with `tollgate import` (kept current by a test).
        .executableTarget(
            name: "ImportedExample",
            dependencies: ["GatewayDSL", "TollgateCLI"],
            path: "Examples/ImportedExample",
            swiftSettings: strict
        ),

        .testTarget(name: "PolicyXMLTests", dependencies: ["PolicyXML"]),
        .testTarget(
            name: "PolicyCompilerTests",
            dependencies: ["PolicyCompiler", "GatewayDSL", "PolicyXML", "Diagnostics"],
            exclude: ["Golden"]
        ),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer"], exclude: ["Fixtures"]),
        .testTarget(name: "TollgateCLITests", dependencies: ["TollgateCLI", "GatewayDSL", "ContosoGateway", "ImportedExample", "PolicyCompiler", "PolicyXML"]),

        // Runtime service (issue 6): pure accounting logic, storage back ends, the Hummingbird app.
        .target(name: "UsageAccounting", dependencies: ["GatewayModel"], swiftSettings: strict),
        .target(
            name: "RuntimeStorage",
            dependencies: [
                "UsageAccounting", "GatewayModel",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "GatewayRuntime",
            dependencies: [
                "UsageAccounting", "RuntimeStorage", "GatewayModel", "Tokenizer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "TollgateRuntime",
            dependencies: ["GatewayRuntime"],
            swiftSettings: strict
        ),
        .testTarget(name: "UsageAccountingTests", dependencies: ["UsageAccounting"]),
        .testTarget(name: "RuntimeStorageTests", dependencies: ["RuntimeStorage", "UsageAccounting"]),
        .testTarget(
            name: "GatewayRuntimeTests",
            dependencies: [
                "GatewayRuntime", "RuntimeStorage",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "InfraEmittersTests", dependencies: ["InfraEmitters"], exclude: ["Golden"]),

        // Relay, batch jobs and the PTU simulator (issue 7).
        .target(
            name: "PTUSimulator",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "TollgatePTUSim", dependencies: ["PTUSimulator"], swiftSettings: strict),
        .executableTarget(
            name: "PTUBench",
            dependencies: [
                "PTUSimulator", "GatewayRuntime", "UsageAccounting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Benchmarks/PTUBench",
            swiftSettings: strict
        ),
        .testTarget(name: "PTUControlTests", dependencies: ["UsageAccounting"]),
        .testTarget(
            name: "RelayJobsTests",
            dependencies: [
                "GatewayRuntime", "RuntimeStorage", "UsageAccounting", "PTUSimulator",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            exclude: ["sdk_client.py"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
