// swift-tools-version:6.1
import PackageDescription

/// The same settings on every target, so that no target drifts into a different dialect.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// One executable per folder under `Services/`.
func service(_ name: String, dependencies: [Target.Dependency]) -> Target {
    .executableTarget(name: name, dependencies: dependencies, path: "Services/\(name)", swiftSettings: swiftSettings)
}

/// A library under `Shared/`.
func shared(_ name: String, dependencies: [Target.Dependency]) -> Target {
    .target(name: name, dependencies: dependencies, path: "Shared/\(name)", swiftSettings: swiftSettings)
}

let log = Target.Dependency.product(name: "Logging", package: "swift-log")
let metrics = Target.Dependency.product(name: "Metrics", package: "swift-metrics")
let lifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let postgres = Target.Dependency.product(name: "PostgresNIO", package: "postgres-nio")
let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let httpTypes = Target.Dependency.product(name: "HTTPTypes", package: "swift-http-types")
let crypto = Target.Dependency.product(name: "Crypto", package: "swift-crypto")
let jwt = Target.Dependency.product(name: "JWTKit", package: "jwt-kit")
let bcrypt = Target.Dependency.product(name: "HummingbirdBcrypt", package: "hummingbird-auth")

let package = Package(
    name: "leitstand",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "api-gateway", targets: ["api-gateway"]),
        .executable(name: "ingest-writer", targets: ["ingest-writer"]),
        .executable(name: "door-scheduler", targets: ["door-scheduler"]),
        .executable(name: "pi-door-client", targets: ["pi-door-client"]),
        .executable(name: "leitstand", targets: ["leitstand"]),
        .executable(name: "mqtt-benchmark", targets: ["mqtt-benchmark"]),
        .executable(name: "door-benchmark", targets: ["door-benchmark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CMosquitto",
            path: "Shared/CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        .systemLibrary(
            name: "CGPIOD",
            path: "Shared/CGPIOD",
            pkgConfig: "libgpiod",
            providers: [.apt(["libgpiod-dev"])]
        ),
        shared("MQTT", dependencies: ["CMosquitto", log, metrics, nioCore]),
        shared("GPIO", dependencies: ["CGPIOD"]),
        shared("DoorCrypto", dependencies: ["Contracts", crypto]),
        shared("DoorStore", dependencies: ["Database", "DoorCrypto", "Contracts", "Primitives", "MQTT", postgres, log, bcrypt, nioPosix]),
        shared("Contracts", dependencies: []),
        shared("Primitives", dependencies: []),
        shared("Database", dependencies: [postgres, log, .product(name: "NIOSSL", package: "swift-nio-ssl")]),
        shared("ServiceKit", dependencies: [
            "MQTT", "Database", "Contracts", "Primitives", log, metrics, lifecycle, hummingbird, httpTypes, nioCore, postgres,
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),

        service("api-gateway", dependencies: [
            "ServiceKit", "MQTT", "Database", "Contracts", "DoorCrypto", "DoorStore", "Primitives", hummingbird, httpTypes, nioCore, log, metrics, jwt, bcrypt, postgres,
        ]),
        service("door-scheduler", dependencies: ["ServiceKit", "MQTT", "Database", "Contracts", "DoorCrypto", "DoorStore", lifecycle, log, metrics, postgres]),
        service("pi-door-client", dependencies: ["ServiceKit", "MQTT", "Contracts", "DoorCrypto", "GPIO", argumentParser, lifecycle, log, metrics]),
        service("ingest-writer", dependencies: ["ServiceKit", "MQTT", "Contracts", lifecycle, log, metrics, nioPosix]),
        service("leitstand", dependencies: ["Database", "MQTT", "Contracts", "ServiceKit", "DoorCrypto", "DoorStore", argumentParser, postgres, log]),

        .executableTarget(
            name: "mqtt-benchmark",
            dependencies: ["MQTT", "Contracts", argumentParser, log],
            path: "Benchmarks/mqtt-benchmark",
            swiftSettings: swiftSettings
        ),

        .executableTarget(
            name: "door-benchmark",
            dependencies: [
                "MQTT", "Contracts", "Database", "DoorCrypto", "DoorStore", "ServiceKit", argumentParser, log, postgres,
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Benchmarks/door-benchmark",
            swiftSettings: swiftSettings
        ),

        .target(
            name: "TestSupport",
            dependencies: ["MQTT", "Database", log, postgres],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "ContractsTests", dependencies: ["Contracts"], swiftSettings: swiftSettings),
        .testTarget(
            name: "MQTTTests",
            dependencies: ["MQTT", "TestSupport", log, .product(name: "MetricsTestKit", package: "swift-metrics")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "DatabaseTests", dependencies: ["Database", "TestSupport", postgres, log], swiftSettings: swiftSettings),
        .testTarget(name: "DoorTests", dependencies: ["TestSupport", "MQTT", "Contracts", "DoorCrypto", postgres, crypto], swiftSettings: swiftSettings),
        .testTarget(name: "IngestTests", dependencies: ["TestSupport", "MQTT", "Contracts"], swiftSettings: swiftSettings),
        .testTarget(name: "GatewayTests", dependencies: ["api-gateway", hummingbird, httpTypes, nioCore], swiftSettings: swiftSettings),
        .testTarget(name: "DoorCryptoTests", dependencies: ["DoorCrypto", "Contracts"], swiftSettings: swiftSettings),
        .testTarget(name: "PiDoorClientTests", dependencies: ["pi-door-client", "GPIO", log], swiftSettings: swiftSettings),
        .testTarget(name: "IngestWriterTests", dependencies: ["ingest-writer", "Contracts", nioPosix], swiftSettings: swiftSettings),
        .testTarget(name: "DeployTests", dependencies: ["ServiceKit", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ServiceKitTests",
            dependencies: ["ServiceKit", "Contracts", "MQTT", "Database", "Primitives", "TestSupport", postgres, log],
            swiftSettings: swiftSettings
        ),
    ]
)
