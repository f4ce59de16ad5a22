// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Slipway",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "slipway", targets: ["slipway"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.0"..<"5.0.0"),
        // The S3 storage driver's HTTP client (already resolved through HummingbirdTesting).
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.0"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.14.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.0"),
        // Tests only: certificates for the local TLS servers of the outbound HTTP tests.
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.15.0"),
    ],
    targets: [
        .systemLibrary(name: "CLibgit2", pkgConfig: "libgit2", providers: [.apt(["libgit2-dev"])]),
        .systemLibrary(name: "CLibarchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CLibssh2", pkgConfig: "libssh2", providers: [.apt(["libssh2-1-dev"])]),
        // Talking to git servers without cloning (ssh host keys, ref listings) and libgit2's
        // remote callbacks, shared by the worker and the server.
        .target(name: "GitRemote", dependencies: ["BuildProtocol", "CLibgit2", "CLibssh2"]),
        // The one outbound HTTP client and its SSRF gate; NIO only, so the build worker can use
        // it without linking the server.
        .target(name: "OutboundHTTP", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // The foundation every server module builds on: the database handle and both backends,
        // module migrations, configuration, the instance keys, blob storage and metrics.
        .target(
            name: "SlipwayCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        // The mail outbox, its `mail` jobs and the SMTP sender: modules queue mail inside their
        // own transactions and learn the outcome through a listener they register.
        .target(name: "Mail", dependencies: [
            "SlipwayCore", "OutboundHTTP",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "SQLKit", package: "sql-kit"),
        ]),
        // The repository events outbox: producers append in their own transactions, notification
        // fan-out reads it.
        .target(name: "Events", dependencies: [
            "SlipwayCore",
            .product(name: "SQLKit", package: "sql-kit"),
        ]),
        // Usage logs and log exports: the batching audit writer, the audit store, and the exporter
        // that writes export files and calls back. Below Registry: it knows no accounts or
        // repositories, only the ids and names an entry copies.
        .target(name: "Audit", dependencies: [
            "SlipwayCore", "Mail", "OutboundHTTP",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "SQLKit", package: "sql-kit"),
        ]),
        // Accounts: namespaces (users, organizations, robots), teams and invitations, tokens,
        // sessions, permissions, prototypes, repositories and stars (AccountStore), the identity
        // of a caller and the secrets it signs in with. Below Registry, which builds /v2 and the
        // /api/v1 framework on it.
        .target(name: "Accounts", dependencies: [
            "SlipwayCore", "Mail",
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SQLKit", package: "sql-kit"),
        ]),
        // The S3-compatible blob storage driver: a SigV4 signer, a small S3 client and the
        // `BlobStorageDriver` over it.
        .target(name: "ObjectStorage", dependencies: [
            "SlipwayCore",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .target(
            name: "Registry",
            dependencies: [
                "SlipwayCore", "OutboundHTTP", "ObjectStorage", "Mail", "Events", "Audit", "Accounts",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ]
        ),
        .target(name: "BuildProtocol"),
        // The security scanner: layer indexing (libarchive; rpm databases through sqlite-nio's
        // bundled SQLite), feed parsing, version ordering per ecosystem, severity normalisation
        // and matching into Quay's report shape.
        .target(name: "Scanner", dependencies: [
            "SlipwayCore", "CLibarchive", "OutboundHTTP",
            .product(name: "SQLKit", package: "sql-kit"),
            .product(name: "SQLiteNIO", package: "sqlite-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The scan pipeline: scans queued on push (in the push's transaction), layers indexed
        // once per digest, re-matching when vulnerability data changes, vulnerability_found
        // events and Quay's security endpoint.
        .target(name: "ScanService", dependencies: [
            "SlipwayCore", "Events", "Accounts", "Registry", "Scanner",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "SQLKit", package: "sql-kit"),
        ]),
        .target(name: "BuildOrchestrator", dependencies: [
            "SlipwayCore", "Events", "Audit", "Accounts", "Registry", "BuildProtocol", "CLibarchive", "OutboundHTTP",
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "SQLKit", package: "sql-kit"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        // The worker: builds, and (with --roles scan) layer indexing through Scanner.
        .target(name: "BuildWorker", dependencies: ["BuildProtocol", "CLibgit2", "CLibarchive", "GitRemote", "OutboundHTTP", "Scanner",
                                                    .product(name: "Crypto", package: "swift-crypto"),
                                                    .product(name: "Logging", package: "swift-log"),
                                                    .product(name: "NIOPosix", package: "swift-nio"),
                                                    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]),
        .target(name: "Triggers", dependencies: [
            "SlipwayCore", "Audit", "Accounts", "Registry", "BuildOrchestrator", "BuildProtocol", "GitRemote", "OutboundHTTP",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "SQLKit", package: "sql-kit"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .target(name: "Notifications", dependencies: [
            "SlipwayCore", "Events", "Audit", "Accounts", "Registry", "Mail", "OutboundHTTP",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "SQLKit", package: "sql-kit"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .target(name: "WebUI", dependencies: [
            "SlipwayCore", "Audit", "Accounts", "Registry", "BuildOrchestrator", "Triggers", "Notifications", "ScanService", "Scanner",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Mustache", package: "swift-mustache"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ], resources: [.copy("Templates"), .copy("Static")]),
        // The composition root: opens the database with every module's migrations and builds
        // the application from the modules.
        .target(name: "SlipwayServer", dependencies: [
            "SlipwayCore", "Mail", "Events", "Audit", "Accounts", "Registry", "BuildOrchestrator", "Triggers", "Notifications", "WebUI",
            "Scanner", "ScanService",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(
            name: "slipway",
            dependencies: [
                "SlipwayCore", "SlipwayServer", "Accounts", "Registry", "BuildOrchestrator", "BuildWorker", "Triggers", "Notifications", "WebUI",
                "Scanner", "ScanService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "SlipwayTestSupport",
            dependencies: [
                "SlipwayCore", "SlipwayServer", "Mail", "Events", "Accounts", "Registry", "BuildOrchestrator", "Triggers", "Notifications", "WebUI",
                "ObjectStorage", "ScanService",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/SlipwayTestSupport"
        ),
        .testTarget(
            name: "RegistryTests",
            dependencies: [
                "SlipwayCore", "Mail", "Events", "Audit", "Accounts", "Registry", "SlipwayTestSupport", "BuildOrchestrator", "BuildProtocol", "OutboundHTTP",
                "ObjectStorage",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SQLKit", package: "sql-kit"),
            ]
        ),
        .testTarget(name: "OutboundHTTPTests", dependencies: [
            "OutboundHTTP",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
        ]),
        .testTarget(name: "ObjectStorageTests", dependencies: [
            "ObjectStorage", "SlipwayCore", "SlipwayTestSupport",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .testTarget(name: "BuildWorkerTests", dependencies: ["BuildWorker", .product(name: "NIOPosix", package: "swift-nio")]),
        .testTarget(name: "ScanServiceTests", dependencies: [
            "ScanService", "Scanner", "SlipwayCore", "Events", "Accounts", "Registry", "Notifications", "SlipwayTestSupport",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "SQLKit", package: "sql-kit"),
        ]),
        .testTarget(name: "ScannerTests", dependencies: [
            "Scanner", "SlipwayCore", "SlipwayTestSupport", "SlipwayServer", "Registry",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "BuildOrchestratorTests", dependencies: ["BuildOrchestrator", "SlipwayCore", "Registry"]),
        .testTarget(name: "TriggersTests", dependencies: [
            "SlipwayCore", "Audit", "Triggers", "Accounts", "Registry", "BuildOrchestrator", "BuildProtocol", "SlipwayTestSupport",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "NotificationsTests", dependencies: [
            "SlipwayCore", "Mail", "Events", "Audit", "Notifications", "Accounts", "Registry", "SlipwayTestSupport",
            .product(name: "SQLKit", package: "sql-kit"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "WebUITests", dependencies: [
            "SlipwayCore", "Audit", "WebUI", "Accounts", "Registry", "SlipwayTestSupport",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .testTarget(name: "SlipwayCoreTests", dependencies: [
            "SlipwayCore", "SlipwayTestSupport",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "SQLKit", package: "sql-kit"),
        ]),
        .testTarget(name: "SlipwayServerTests", dependencies: [
            "SlipwayCore", "SlipwayServer", "Accounts", "Registry", "BuildOrchestrator", "Triggers", "Notifications", "SlipwayTestSupport",
            .product(name: "SQLKit", package: "sql-kit"),
            .product(name: "Logging", package: "swift-log"),
        ], exclude: []),
    ]
)
