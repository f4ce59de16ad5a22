import Foundation
import Registry
import SlipwayCore
import Testing

@Suite("Configuration")
struct ConfigLoaderTests {
    @Test func defaults() throws {
        let c = try ConfigLoader.load(file: nil, environment: [:])
        #expect(c.server.port == 8080)
        #expect(c.database.driver == .sqlite)
        #expect(c.resolvedSQLitePath == "./data/slipway.db")
        #expect(c.resolvedStoragePath == "./data/storage")
        #expect(c.registry.readOnly == false)
    }

    /// The shipped example must stay loadable as keys are added or renamed.
    @Test func exampleConfigurationLoads() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/slipway.yaml").standardized
        let c = try ConfigLoader.load(file: example.path, environment: [:])
        #expect(c.builds.maxConcurrentPerNamespace == 2)
        #expect(c.notifications.allowPrivateTargets == false)
    }

    @Test func yamlThenEnvironmentThenOverrides() throws {
        var c = SlipwayConfig()
        try ConfigLoader.apply(yaml: """
            server:
              port: 9000
              publicURL: https://registry.example.com
            registry: {readOnly: true, maxManifestBytes: 2048}
            """, to: &c)
        #expect(c.server.port == 9000)
        #expect(c.registry.readOnly)
        #expect(c.registry.maxManifestBytes == 2048)
        let loaded = try ConfigLoader.load(file: nil, environment: ["SLIPWAY_SERVER_PORT": "7000", "SLIPWAY_REGISTRY_READ_ONLY": "true"],
                                           overrides: ["server.port": "7001"])
        #expect(loaded.server.port == 7001)
        #expect(loaded.registry.readOnly)
    }

    @Test func quayNamesForSharedSwitches() throws {
        var c = SlipwayConfig()
        #expect(!c.auth.robotsDisallow && !c.auth.requireTeamInvite)
        try ConfigLoader.apply(yaml: "ROBOTS_DISALLOW: true\nFEATURE_REQUIRE_TEAM_INVITE: true\n", to: &c)
        #expect(c.auth.robotsDisallow && c.auth.requireTeamInvite)
        // Other keys still refuse a list.
        #expect(throws: ConfigError.self) { try ConfigLoader.apply(yaml: "ROBOTS_DISALLOW: [admin]\n", to: &c) }
    }

    @Test func superusersFromYAMLListQuayNameOrEnvironment() throws {
        var c = SlipwayConfig()
        #expect(c.auth.superUsers.isEmpty)
        try ConfigLoader.apply(yaml: "SUPER_USERS: [admin, ops]\n", to: &c)
        #expect(c.auth.superUsers == ["admin", "ops"])
        try ConfigLoader.apply(yaml: "auth:\n  superUsers:\n    - root\n", to: &c)
        #expect(c.auth.superUsers == ["root"])
        try ConfigLoader.apply(yaml: "auth:\n  superUsers: \"a, b ,,c\"\n", to: &c)
        #expect(c.auth.superUsers == ["a", "b", "c"])
        #expect(throws: ConfigError.self) { try ConfigLoader.apply(yaml: "auth:\n  superUsers: [[nested]]\n", to: &c) }
        let loaded = try ConfigLoader.load(file: nil, environment: ["SLIPWAY_AUTH_SUPER_USERS": "alice,bob"])
        #expect(loaded.auth.superUsers == ["alice", "bob"])
        #expect(ConfigKeys.all.first { $0.path == "auth.superUsers" }?.environmentName == "SLIPWAY_AUTH_SUPER_USERS")
    }

    @Test func vulnerabilityFeedsAreAListOfMappings() throws {
        var c = SlipwayConfig()
        try ConfigLoader.apply(yaml: """
            security:
              updateIntervalSeconds: 600
              feeds:
                - name: debian-tracker
                  url: https://security-tracker.debian.org/tracker/data/json
                  format: debian
                - name: osv
                  url: https://osv.example/all.json
            """, to: &c)
        #expect(c.security.feeds == [.init(name: "debian-tracker", url: "https://security-tracker.debian.org/tracker/data/json", format: "debian"),
                                     .init(name: "osv", url: "https://osv.example/all.json")])
        #expect(c.security.updateIntervalSeconds == 600 && c.security.maxFeedAgeSeconds == 0 && !c.security.staleFeedsFailHealth)
        let loaded = try ConfigLoader.load(file: nil, environment: ["SLIPWAY_SECURITY_FEEDS": #"[{"name": "a", "url": "http://127.0.0.1:1/f.json"}]"#])
        #expect(loaded.security.feeds.map(\.name) == ["a"])
        for bad in ["security:\n  feeds:\n    - name: x\n      url: ftp://h/f\n",
                    "security:\n  feeds:\n    - name: x\n      url: https://h/f\n      format: nvd\n",
                    "security:\n  feeds:\n    - name: x\n      url: https://h/a\n    - name: x\n      url: https://h/b\n",
                    "security:\n  feeds:\n    - url: https://h/a\n",
                    "security:\n  feeds: https://h/a\n",
                    "auth:\n  superUsers:\n    - name: x\n"] {
            #expect(throws: ConfigError.self, "\(bad)") { try ConfigLoader.apply(yaml: bad, to: &c) }
        }
    }

    @Test func buildIsolationAndLimits() throws {
        var c = SlipwayConfig()
        #expect(c.builds.isolation == .rootless && c.builds.buildUser == "slipway-build")
        #expect(c.builds.limits(forNamespace: "any") == BuildResourceLimits(pids: 4096, timeoutSeconds: 7200))
        try ConfigLoader.apply(yaml: """
            builds:
              isolation: chroot
              timeoutSeconds: 600
              limits:
                cpuMillicores: 2000
                memoryBytes: 1073741824
              namespaceLimits:
                - namespace: small
                  pids: 64
                  memoryBytes: 268435456
                  timeoutSeconds: 60
                - namespace: patient
                  timeoutSeconds: 3600
            """, to: &c)
        #expect(c.builds.isolation == .chroot)
        #expect(c.builds.limits(forNamespace: "small") == BuildResourceLimits(cpuMillicores: 2000, memoryBytes: 256 << 20, pids: 64, timeoutSeconds: 60))
        #expect(c.builds.limits(forNamespace: "other") == BuildResourceLimits(cpuMillicores: 2000, memoryBytes: 1 << 30, pids: 4096, timeoutSeconds: 600))
        // A namespace never gets longer than the server's bound.
        #expect(c.builds.limits(forNamespace: "patient").timeoutSeconds == 600)
        let loaded = try ConfigLoader.load(file: nil, environment: ["SLIPWAY_BUILDS_NAMESPACE_LIMITS": #"[{"namespace": "a", "pids": 10}]"#])
        #expect(loaded.builds.limits(forNamespace: "a").pids == 10)
        for bad in ["builds:\n  namespaceLimits:\n    - pids: 3\n",
                    "builds:\n  namespaceLimits:\n    - namespace: a\n      pids: -1\n",
                    "builds:\n  namespaceLimits:\n    - namespace: a\n      cpus: 2\n",
                    "builds:\n  namespaceLimits:\n    - namespace: a\n    - namespace: a\n",
                    "builds:\n  isolation: vm\n"] {
            #expect(throws: ConfigError.self, "\(bad)") { try ConfigLoader.apply(yaml: bad, to: &c) }
        }
    }

    @Test func s3StorageKeys() throws {
        let names = Dictionary(uniqueKeysWithValues: ConfigKeys.all.map { ($0.path, $0.environmentName) })
        #expect(names["storage.s3.secretKey"] == "SLIPWAY_STORAGE_S3_SECRET_KEY")
        #expect(names["storage.s3.redirectDownloads"] == "SLIPWAY_STORAGE_S3_REDIRECT_DOWNLOADS")
        let config = try ConfigLoader.load(file: nil, environment: [
            "SLIPWAY_STORAGE_DRIVER": "s3", "SLIPWAY_STORAGE_S3_BUCKET": "blobs", "SLIPWAY_STORAGE_S3_ENDPOINT": "http://127.0.0.1:9000",
            "SLIPWAY_STORAGE_S3_PATH_STYLE": "true", "SLIPWAY_STORAGE_S3_SECRET_KEY": "hunter2-secret",
        ])
        #expect(config.storage.driver == .s3 && config.storage.s3.bucket == "blobs" && config.storage.s3.pathStyle)
        #expect(!"\(config)".contains("hunter2-secret") && !String(reflecting: config).contains("hunter2-secret"))
        #expect(throws: ConfigError.self) { try ConfigLoader.load(file: nil, environment: ["SLIPWAY_STORAGE_DRIVER": "s3"]) }
    }

    @Test func environmentNames() {
        let names = Dictionary(uniqueKeysWithValues: ConfigKeys.all.map { ($0.path, $0.environmentName) })
        #expect(names["server.publicURL"] == "SLIPWAY_SERVER_PUBLIC_URL")
        #expect(names["registry.readOnly"] == "SLIPWAY_REGISTRY_READ_ONLY")
        #expect(names["database.postgresURL"] == "SLIPWAY_DATABASE_POSTGRES_URL")
        #expect(names["dataDir"] == "SLIPWAY_DATA_DIR")
    }

    @Test(arguments: [
        ("server:\n  prot: 1\n", "server.prot"),
        ("server:\n  port: lots\n", "server.port"),
        ("server:\n  port: 70000\n", "server.port"),
        ("registry:\n  readOnly: maybe\n", "registry.readOnly"),
        ("database:\n  driver: mysql\n", "database.driver"),
        ("logging:\n  level: chatty\n", "logging.level"),
        ("server: [1, 2]\n", "server"),
    ])
    func badKeysAreNamed(yaml: String, key: String) throws {
        var c = SlipwayConfig()
        do {
            try ConfigLoader.apply(yaml: yaml, to: &c)
            try ConfigLoader.validate(c)
            Issue.record("expected an error naming \(key)")
        } catch let error as ConfigError {
            #expect(error.message.contains("'\(key)'"), "message was: \(error.message)")
        }
    }

    @Test func postgresNeedsURL() {
        #expect(throws: ConfigError.self) {
            try ConfigLoader.load(file: nil, environment: ["SLIPWAY_DATABASE_DRIVER": "postgres"])
        }
    }
}

