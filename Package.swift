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
        .executable(name: "tollgate-bench-policyxml", targets: ["PolicyXMLBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
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
        // The command-line interface as a library so a user's package can call TollgateCLI.main(gateway).
        .target(
            name: "TollgateCLI",
            dependencies: [
                "GatewayModel", "PolicyXML", "PolicyCompiler", "Diagnostics", "Tokenizer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "tollgate", dependencies: ["TollgateCLI"], swiftSettings: strict),
        // The example gateway: `swift run contoso-gateway build`.
        .executableTarget(
            name: "ContosoGateway",
            dependencies: ["GatewayDSL", "TollgateCLI"],
            swiftSettings: strict
        ),

        .testTarget(name: "GatewayDSLTests", dependencies: ["GatewayDSL", "PolicyCompiler"]),
        .testTarget(name: "PolicyXMLTests", dependencies: ["PolicyXML"]),
        .testTarget(
            name: "PolicyCompilerTests",
            dependencies: ["PolicyCompiler", "GatewayDSL", "PolicyXML", "Diagnostics"],
            exclude: ["Golden"]
        ),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer"]),
        .testTarget(name: "TollgateCLITests", dependencies: ["TollgateCLI", "GatewayDSL"]),
    ],
    swiftLanguageModes: [.v6]
)
