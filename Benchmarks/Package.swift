// swift-tools-version: 6.1
// Micro-benchmarks of Starling's hot paths (package-benchmark). A package of its own, so that
// the main build and CI never compile the benchmark framework. Run from this directory:
//   swift package benchmark
import PackageDescription

let package = Package(
    name: "StarlingBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Starling", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "XMPPCore", package: "Starling"),
                .product(name: "XMPPSASL", package: "Starling"),
                .product(name: "XMPPServer", package: "Starling"),
            ],
            path: "Benchmarks/HotPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
