// swift-tools-version: 6.0
import PackageDescription

/// Targets that carry NIO channel handlers and reference-typed sessions compile in Swift 5 mode for now;
/// the pure layers (core, SASL, storage protocols) are checked under Swift 6 strict concurrency.
let swift5Mode: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
    name: "Starling",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "starling", targets: ["StarlingCLI"]),
        .executable(name: "starling-bench", targets: ["StarlingBench"]),
        .executable(name: "starling-load", targets: ["StarlingLoad"]),
        .library(name: "XMPPCore", targets: ["XMPPCore"]),
        .library(name: "XMPPSASL", targets: ["XMPPSASL"]),
        .library(name: "XMPPClient", targets: ["XMPPClient"]),
        .library(name: "XMPPServer", targets: ["XMPPServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // MARK: - System libraries
        .target(
            name: "CICUShim",
            linkerSettings: [.linkedLibrary("icuuc"), .linkedLibrary("icui18n"), .linkedLibrary("icudata")]
        ),
        .target(name: "CResolvShim", linkerSettings: [.linkedLibrary("resolv")]),
        .target(name: "CMallocShim"),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),

        // MARK: - Core, no I/O
        .target(name: "XMPPCore", dependencies: ["CICUShim"]),
        .target(
            name: "XMPPSASL",
            dependencies: [
                "XMPPCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),

        // MARK: - Streams over NIO
        .target(
            name: "XMPPStream",
            dependencies: [
                "XMPPCore", "XMPPSASL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swift5Mode
        ),

        // MARK: - Storage
        .target(name: "XMPPStorage", dependencies: ["XMPPCore", "XMPPSASL"]),
        .target(name: "XMPPStorageSQLite", dependencies: ["XMPPStorage", "CSQLite"]),
        .target(
            name: "XMPPStoragePostgres",
            dependencies: [
                "XMPPStorage",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),

        // MARK: - Server
        .target(
            name: "XMPPServer",
            dependencies: [
                "XMPPCore", "XMPPSASL", "XMPPStream", "XMPPStorage", "XMPPStorageSQLite", "XMPPStoragePostgres", "CResolvShim", "CMallocShim",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swift5Mode
        ),
        .target(
            name: "XMPPServerModules",
            dependencies: ["XMPPServer", "XMPPCore", "XMPPStorage", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swift5Mode
        ),

        // MARK: - Client
        .target(
            name: "XMPPClient",
            dependencies: [
                "XMPPCore", "XMPPSASL", "XMPPStream",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swift5Mode
        ),

        // MARK: - Executables
        .executableTarget(
            name: "StarlingCLI",
            dependencies: [
                "XMPPServer", "XMPPServerModules", "XMPPStorage", "XMPPStorageSQLite", "XMPPStoragePostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swift5Mode
        ),
        .executableTarget(name: "XMPPFuzzer", dependencies: ["XMPPCore", "XMPPSASL", "XMPPStream"], swiftSettings: swift5Mode),
        .executableTarget(
            name: "StarlingBench",
            dependencies: [
                "XMPPCore", "XMPPSASL", "XMPPStorage", "XMPPStorageSQLite", "XMPPClient", "XMPPServer", "XMPPServerModules",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swift5Mode
        ),

        .executableTarget(
            name: "StarlingLoad",
            dependencies: [
                "XMPPCore", "XMPPSASL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swift5Mode
        ),

        // MARK: - Tests
        .testTarget(name: "XMPPCoreTests", dependencies: ["XMPPCore"]),
        .testTarget(name: "XMPPSASLTests", dependencies: ["XMPPSASL"]),
        .testTarget(
            name: "XMPPStreamTests",
            dependencies: ["XMPPStream", .product(name: "NIOEmbedded", package: "swift-nio")],
            swiftSettings: swift5Mode
        ),
        .testTarget(
            name: "XMPPStorageSQLiteTests",
            dependencies: [
                "XMPPStorageSQLite", "XMPPStoragePostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "XMPPServerModulesTests", dependencies: ["XMPPServerModules", "XMPPCore"], swiftSettings: swift5Mode),
        .testTarget(
            name: "StarlingLoadTests",
            dependencies: ["StarlingLoad", "XMPPServer", "XMPPServerModules", "XMPPSASL"],
            swiftSettings: swift5Mode
        ),
        .testTarget(
            name: "XMPPServerTests",
            dependencies: [
                "XMPPServer", "XMPPServerModules", "XMPPClient", "CMallocShim",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
            ],
            swiftSettings: swift5Mode
        ),
    ]
)
