import Foundation

/// One documented configuration key: its dotted YAML path, the environment variable that
/// overrides it, and how to apply a textual value to `SlipwayConfig`.
public struct ConfigKey: Sendable {
    public let path: String
    public let help: String
    /// Whether the YAML value may be a list (its items reach `apply` joined by commas).
    var acceptsList = false
    /// Whether the YAML value may be a list of mappings of scalars (it reaches `apply` as a
    /// JSON array of objects).
    var acceptsRecords = false
    let apply: @Sendable (inout SlipwayConfig, String) throws(ConfigError) -> Void

    /// `server.publicURL` → `SLIPWAY_SERVER_PUBLIC_URL`.
    public var environmentName: String {
        var out = "SLIPWAY_"
        for ch in path {
            if ch == "." { out += "_" } else if ch.isUppercase { out += "_" + String(ch) } else { out += ch.uppercased() }
        }
        return out.replacingOccurrences(of: "U_R_L", with: "URL")
    }
}

public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension ConfigKey {
    static func string(_ path: String, _ help: String, _ kp: WritableKeyPath<SlipwayConfig, String>) -> ConfigKey {
        nonisolated(unsafe) let kp = kp
        return ConfigKey(path: path, help: help) { config, value in config[keyPath: kp] = value }
    }

    static func int(_ path: String, _ help: String, min: Int, max: Int, _ kp: WritableKeyPath<SlipwayConfig, Int>) -> ConfigKey {
        nonisolated(unsafe) let kp = kp
        return ConfigKey(path: path, help: help) { config, value throws(ConfigError) in
            guard let n = Int(value.trimmingCharacters(in: .whitespaces)), n >= min, n <= max else {
                throw ConfigError("invalid value '\(value)' for '\(path)': expected an integer from \(min) to \(max)")
            }
            config[keyPath: kp] = n
        }
    }

    static func int64(_ path: String, _ help: String, min: Int64, _ kp: WritableKeyPath<SlipwayConfig, Int64>) -> ConfigKey {
        nonisolated(unsafe) let kp = kp
        return ConfigKey(path: path, help: help) { config, value throws(ConfigError) in
            guard let n = Int64(value.trimmingCharacters(in: .whitespaces)), n >= min else {
                throw ConfigError("invalid value '\(value)' for '\(path)': expected an integer of at least \(min)")
            }
            config[keyPath: kp] = n
        }
    }

    static func bool(_ path: String, _ help: String, _ kp: WritableKeyPath<SlipwayConfig, Bool>) -> ConfigKey {
        nonisolated(unsafe) let kp = kp
        return ConfigKey(path: path, help: help) { config, value throws(ConfigError) in
            switch value.lowercased() {
            case "true", "yes", "1", "on": config[keyPath: kp] = true
            case "false", "no", "0", "off": config[keyPath: kp] = false
            default: throw ConfigError("invalid value '\(value)' for '\(path)': expected true or false")
            }
        }
    }

    /// A comma-separated list of names (a YAML list works too); blanks are dropped.
    static func names(_ path: String, _ help: String, _ kp: WritableKeyPath<SlipwayConfig, [String]>) -> ConfigKey {
        nonisolated(unsafe) let kp = kp
        return ConfigKey(path: path, help: help, acceptsList: true) { config, value in
            config[keyPath: kp] = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
    }

    /// Vulnerability feeds: YAML's list of mappings reaches `apply` as a JSON array, which is
    /// also what the environment variable holds.
    static func feeds(_ path: String, _ help: String, _ kp: WritableKeyPath<SlipwayConfig, [SlipwayConfig.FeedSource]>) -> ConfigKey {
        nonisolated(unsafe) let kp = kp
        return ConfigKey(path: path, help: help, acceptsRecords: true) { config, value throws(ConfigError) in
            let trimmed = value.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { config[keyPath: kp] = []; return }
            let feeds: [SlipwayConfig.FeedSource]
            do { feeds = try JSONDecoder().decode([SlipwayConfig.FeedSource].self, from: Data(trimmed.utf8)) } catch {
                throw ConfigError("invalid value for '\(path)': expected a list of {name, url, format}")
            }
            var names: Set<String> = []
            for feed in feeds {
                guard !feed.name.isEmpty, names.insert(feed.name).inserted else {
                    throw ConfigError("invalid value for '\(path)': every feed needs a name of its own")
                }
                guard let url = URL(string: feed.url), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                    throw ConfigError("invalid value for '\(path)': feed '\(feed.name)' needs an http(s) url")
                }
                if let format = feed.format, !["osv", "debian", "alpine"].contains(format) {
                    throw ConfigError("invalid value for '\(path)': feed '\(feed.name)' has format '\(format)'; expected osv, debian or alpine")
                }
            }
            config[keyPath: kp] = feeds
        }
    }

    /// Per-namespace build limits: YAML's list of mappings reaches `apply` as a JSON array of
    /// string-valued objects, which is also what the environment variable holds.
    static func namespaceLimits(_ path: String, _ help: String, _ kp: WritableKeyPath<SlipwayConfig, [NamespaceBuildLimits]>) -> ConfigKey {
        nonisolated(unsafe) let kp = kp
        return ConfigKey(path: path, help: help, acceptsRecords: true) { config, value throws(ConfigError) in
            let trimmed = value.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { config[keyPath: kp] = []; return }
            // The environment's JSON may spell numbers as numbers.
            guard let array = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [[String: Any]] else {
                throw ConfigError("invalid value for '\(path)': expected a list of {namespace, cpuMillicores, memoryBytes, pids, timeoutSeconds}")
            }
            let records = array.map { $0.mapValues { value in (value as? String) ?? "\(value)" } }
            config[keyPath: kp] = try NamespaceBuildLimits.parse(records, path: path)
        }
    }

    static func choice<E: RawRepresentable & CaseIterable & Sendable>(
        _ path: String, _ help: String, _ kp: WritableKeyPath<SlipwayConfig, E>
    ) -> ConfigKey where E.RawValue == String {
        nonisolated(unsafe) let kp = kp
        return ConfigKey(path: path, help: help) { config, value throws(ConfigError) in
            guard let v = E(rawValue: value) else {
                let allowed = E.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigError("invalid value '\(value)' for '\(path)': expected one of \(allowed)")
            }
            config[keyPath: kp] = v
        }
    }
}

/// The single place every configuration key is documented.
public enum ConfigKeys {
    public static let all: [ConfigKey] = [
        .string("server.host", "Address to bind (default 127.0.0.1).", \.server.host),
        .int("server.port", "TCP port (default 8080; 0 picks a free port).", min: 0, max: 65535, \.server.port),
        .string("server.publicURL", "URL clients reach Slipway at, e.g. https://registry.example.com (default: from the request).", \.server.publicURL),
        .string("dataDir", "Directory for the embedded SQLite database and local blob storage (default ./data).", \.dataDir),
        .choice("database.driver", "Metadata store: sqlite (default) or postgres.", \.database.driver),
        .string("database.sqlitePath", "SQLite file (default <dataDir>/slipway.db).", \.database.sqlitePath),
        .string("database.postgresURL", "PostgreSQL URL, postgres://user:pass@host:port/db, when database.driver is postgres.", \.database.postgresURL),
        .int("database.postgresMaxConnections", "Most connections this process's PostgreSQL pool opens (default 16; two are held for LISTEN). N replicas open up to N times this: keep it under the server's max_connections.", min: 4, max: 1000, \.database.postgresMaxConnections),
        .choice("storage.driver", "Blob storage driver: filesystem (default) or s3.", \.storage.driver),
        .string("storage.path", "Blob storage root for the filesystem driver (default <dataDir>/storage).", \.storage.path),
        .string("storage.s3.endpoint", "S3 endpoint URL, e.g. http://127.0.0.1:9000 (default AWS: https://s3.<region>.amazonaws.com).", \.storage.s3.endpoint),
        .string("storage.s3.region", "S3 region (default $AWS_REGION, else us-east-1).", \.storage.s3.region),
        .string("storage.s3.bucket", "S3 bucket holding the blobs; required when storage.driver is s3.", \.storage.s3.bucket),
        .string("storage.s3.prefix", "Key prefix of every object Slipway writes in the bucket (default none).", \.storage.s3.prefix),
        .string("storage.s3.accessKey", "S3 access key id (default $AWS_ACCESS_KEY_ID).", \.storage.s3.accessKey),
        .string("storage.s3.secretKey", "S3 secret access key (default $AWS_SECRET_ACCESS_KEY); never printed.", \.storage.s3.secretKey),
        .bool("storage.s3.pathStyle", "Path-style bucket addressing, host/bucket/key, for MinIO, Ceph and the like (default false).", \.storage.s3.pathStyle),
        .bool("storage.s3.redirectDownloads", "Blob downloads answer 307 to a presigned S3 URL valid 5 minutes instead of streaming through Slipway (default false).", \.storage.s3.redirectDownloads),
        .bool("registry.readOnly", "Maintenance mode: pulls keep working, pushes and deletes get 405 DENIED (default false).", \.registry.readOnly),
        .int("registry.maxManifestBytes", "Largest manifest accepted, in bytes (default 4194304).", min: 1024, max: 64 * 1024 * 1024, \.registry.maxManifestBytes),
        .int64("registry.maxBlobBytes", "Largest blob accepted, in bytes (default 20 GiB).", min: 1, \.registry.maxBlobBytes),
        .bool("registry.anonymousAccess", "Anonymous clients may pull public repositories (default true).", \.registry.anonymousAccess),
        .string("registry.serviceName", "Token service name (default: the request's host).", \.registry.serviceName),
        .int("auth.tokenLifetimeSeconds", "Lifetime of registry bearer tokens in seconds (default 300).", min: 30, max: 3600, \.auth.tokenLifetimeSeconds),
        .int("auth.revocationCheckSeconds", "Seconds between re-checks that an issued registry token's account still exists (default 5).", min: 0, max: 3600, \.auth.revocationCheckSeconds),
        .int("auth.bcryptCost", "bcrypt cost for stored passwords (default 10).", min: 4, max: 16, \.auth.bcryptCost),
        .names("auth.superUsers", "User names with the superuser role (Quay SUPER_USERS): the superuser API and panel, all usage logs, messages. A YAML list or comma-separated. Empty (default): the admin user created on first start is the superuser.", \.auth.superUsers),
        .bool("auth.requireTeamInvite", "Users not yet in an organization must accept an invitation to join its teams (Quay FEATURE_REQUIRE_TEAM_INVITE; default false).", \.auth.requireTeamInvite),
        .bool("auth.robotsDisallow", "Disable robot accounts: creation is refused and robots cannot log in (Quay ROBOTS_DISALLOW; default false).", \.auth.robotsDisallow),
        .int("auth.robotFederationTokenSeconds", "Lifetime in seconds of the robot tokens a federated OIDC token is exchanged for at /oauth2/federation/robot/token (default 3600, as Quay).", min: 5, max: 86_400, \.auth.robotFederationTokenSeconds),
        .bool("auth.internalLogin", "Password sign-in on the web UI; false leaves only the auth.oidc providers' buttons, and only superusers may still use a password (Quay FEATURE_DIRECT_LOGIN; default true). Providers themselves are configured as a YAML list, see the README's single sign-on section.", \.auth.internalLogin),
        .bool("auth.userCreation", "Self sign-up: /signin offers \"Create account\" and POST /api/v1/user/ creates accounts (Quay FEATURE_USER_CREATION; default false).", \.auth.userCreation),
        .bool("auth.mailVerification", "Self-created accounts confirm their e-mail address through a mailed link before they may push; needs notifications.smtpHost (Quay FEATURE_MAILING; default false).", \.auth.mailVerification),
        .int("auth.userCreationPerHourPerIP", "Accounts one client address may create per hour through self sign-up (default 5).", min: 1, max: 10_000, \.auth.userCreationPerHourPerIP),
        .string("builds.workerToken", "Shared secret remote `slipway worker` processes present (default: random per start, in-process workers only).", \.builds.workerToken),
        .int("builds.maxConcurrentPerNamespace", "Running builds allowed per namespace (default 2).", min: 1, max: 1000, \.builds.maxConcurrentPerNamespace),
        .int("builds.maxQueuedPerNamespace", "Queued builds allowed per namespace before 429 (default 50).", min: 0, max: 100_000, \.builds.maxQueuedPerNamespace),
        .int("builds.timeoutSeconds", "A build running longer is stopped and fails (default 7200).", min: 10, max: 86_400, \.builds.timeoutSeconds),
        .int("builds.inProcessWorkers", "Build workers started inside `slipway serve` (default 1; 0 = remote workers only).", min: 0, max: 64, \.builds.inProcessWorkers),
        .int64("builds.maxContextBytes", "Largest uploaded build context in bytes (default 1 GiB).", min: 1024, \.builds.maxContextBytes),
        .int("builds.shutdownGraceSeconds", "On SIGTERM, running in-process builds get this long to finish before they are stopped and requeued (default 30).", min: 0, max: 86_400, \.builds.shutdownGraceSeconds),
        .int("builds.maxLogEntries", "Log entries stored per build; later output is dropped and the log says so (default 100000).", min: 100, max: 10_000_000, \.builds.maxLogEntries),
        .int("builds.leaseTimeoutSeconds", "A worker silent for this long loses its build, which is retried on another worker up to 3 times (default 60).", min: 3, max: 3600, \.builds.leaseTimeoutSeconds),
        .int("builds.leaseAcceptSeconds", "A new lease whose worker sends no first heartbeat within this long was never received (the long-poll had lost its worker) and goes back in line at once; capped by builds.leaseTimeoutSeconds (default 15).", min: 1, max: 3600, \.builds.leaseAcceptSeconds),
        .int("builds.fileDropTTLSeconds", "An uploaded build context (file drop) no build was started from is deleted this long after it was created; one a build used goes once that build has finished (default 3600).", min: 60, max: 30 * 86_400, \.builds.fileDropTTLSeconds),
        .string("builds.baseImageCacheDir", "Directory of the in-process workers' per-namespace base-image cache (default <dataDir>/build-cache; `slipway worker --base-image-cache-dir`).", \.builds.baseImageCacheDir),
        .int64("builds.baseImageCacheMaxBytes", "Size bound of the base-image cache in bytes, least recently used namespaces dropped first; 0 disables the cache (default 10 GiB; `slipway worker --base-image-cache-max-bytes`).", min: 0, \.builds.baseImageCacheMaxBytes),
        .choice("builds.isolation", "How in-process workers isolate build steps: rootless (default; the builder runs as builds.buildUser and each RUN step in user, mount and PID namespaces of its own), chroot (buildah's chroot isolation as the server's user: no security boundary) or oci (`slipway worker --isolation`).", \.builds.isolation),
        .string("builds.buildUser", "The unprivileged account rootless builds run as; a worker running as root creates it with a subordinate uid/gid range when missing (default slipway-build; `slipway worker --build-user`).", \.builds.buildUser),
        .int("builds.limits.cpuMillicores", "CPU each build may use, in thousandths of a core; 0 unlimited (default 0). Enforced by the worker through a control group per build.", min: 0, max: 1_024_000, \.builds.limits.cpuMillicores),
        .int64("builds.limits.memoryBytes", "Memory each build may use, in bytes; 0 unlimited (default 0).", min: 0, \.builds.limits.memoryBytes),
        .int("builds.limits.pids", "Processes and threads each build may have at once; 0 unlimited (default 4096).", min: 0, max: 4_194_304, \.builds.limits.pids),
        .namespaceLimits("builds.namespaceLimits", "Per-namespace build limits: a YAML list of {namespace, cpuMillicores, memoryBytes, pids, timeoutSeconds}; each given field replaces the default for that namespace's builds (timeoutSeconds is capped by builds.timeoutSeconds).", \.builds.namespaceLimits),
        .int("gc.intervalSeconds", "Seconds between garbage-collection passes; 0 disables the collector (default 30).", min: 0, max: 86_400, \.gc.intervalSeconds),
        .int("gc.graceSeconds", "Protection in seconds for fresh manifests and blobs nothing references yet (default 3600).", min: 0, max: 30 * 86_400, \.gc.graceSeconds),
        .int("gc.tombstoneSeconds", "Seconds between dropping an unreferenced blob and deleting its bytes (default 60).", min: 0, max: 86_400, \.gc.tombstoneSeconds),
        .int("gc.uploadIdleSeconds", "Upload sessions idle longer than this many seconds are removed (default 172800).", min: 60, max: 365 * 86_400, \.gc.uploadIdleSeconds),
        .int("logs.retentionDays", "Days usage logs are kept before the hourly clean-up deletes them; 0 keeps them forever (default 30).", min: 0, max: 36_500, \.logs.retentionDays),
        .int("logs.exportLinkSeconds", "Lifetime in seconds of the signed link to an exported usage-log file (default 3600).", min: 60, max: 7 * 86_400, \.logs.exportLinkSeconds),
        .int("security.scanConcurrency", "Image scans this process runs at once; 0: this process leaves scans to other replicas and `slipway worker --roles scan` processes (it still re-matches; default 2).", min: 0, max: 64, \.security.scanConcurrency),
        .int("security.rematchCheckSeconds", "Seconds between checks for changed vulnerability data, which re-matches every scanned manifest without reading its layers; 0: this process never re-matches, other replicas do (default 5).", min: 0, max: 86_400, \.security.rematchCheckSeconds),
        .bool("security.allowPrivateTargets", "Allow callback URLs and vulnerability feed URLs that reach loopback, private, link-local or cloud-metadata addresses (default false; tests and feed mirrors on a private network).", \.security.allowPrivateTargets),
        .feeds("security.feeds", "Vulnerability feeds the scanner fetches: a YAML list of {name, url, format} (format osv, debian or alpine; omitted: recognised from the content), or the same as a JSON array in the environment. Each name is the source its imports replace (default none).", \.security.feeds),
        .int("security.updateIntervalSeconds", "Seconds between checks of each vulnerability feed, with ETag/Last-Modified conditional requests; 0 disables fetching (default 21600).", min: 0, max: 30 * 86_400, \.security.updateIntervalSeconds),
        .int("security.maxFeedAgeSeconds", "A vulnerability source not confirmed current for this many seconds is reported stale in /health/instance (vulnerability_feeds: false); 0 never (default 0).", min: 0, max: 365 * 86_400, \.security.maxFeedAgeSeconds),
        .bool("security.staleFeedsFailHealth", "Stale vulnerability feeds also make /health/instance answer 503 (default false: reported, readiness unaffected).", \.security.staleFeedsFailHealth),
        .int64("security.feedMaxBytes", "Largest vulnerability feed downloaded, in bytes (default 536870912).", min: 1024, \.security.feedMaxBytes),
        .string("notifications.smtpHost", "SMTP server for e-mail notifications; empty disables e-mail delivery (default empty).", \.notifications.smtpHost),
        .int("notifications.smtpPort", "SMTP server port (default 25).", min: 1, max: 65535, \.notifications.smtpPort),
        .string("notifications.smtpFrom", "Sender address of notification e-mail (default slipway@localhost).", \.notifications.smtpFrom),
        .string("notifications.smtpUsername", "SMTP AUTH PLAIN user name; empty means no authentication (default empty).", \.notifications.smtpUsername),
        .string("notifications.smtpPassword", "SMTP AUTH PLAIN password (default empty).", \.notifications.smtpPassword),
        .choice("notifications.smtpSecurity", "SMTP connection security: none (default), starttls, or tls.", \.notifications.smtpSecurity),
        .string("notifications.clientCertificatePath", "PEM client certificate presented on HTTPS webhook calls; needs notifications.clientKeyPath (default none).", \.notifications.clientCertificatePath),
        .string("notifications.clientKeyPath", "PEM private key of notifications.clientCertificatePath (default none).", \.notifications.clientKeyPath),
        .string("notifications.trustRootsPath", "Extra PEM trust roots for HTTPS webhooks and SMTP TLS, e.g. a private CA (default none: system roots only).", \.notifications.trustRootsPath),
        .int("notifications.deliveryTimeoutSeconds", "Time limit in seconds for one notification delivery attempt (default 10).", min: 1, max: 300, \.notifications.deliveryTimeoutSeconds),
        .int("notifications.maxAttempts", "Attempts per notification delivery, with exponential backoff, before it counts as failed (default 5).", min: 1, max: 50, \.notifications.maxAttempts),
        .int("notifications.dispatchIntervalSeconds", "Seconds between checks for notifications to deliver; 0 disables delivery in this process (default 1).", min: 0, max: 3600, \.notifications.dispatchIntervalSeconds),
        .bool("notifications.allowPrivateTargets", "Allow webhook and Slack URLs on loopback, private, link-local or cloud-metadata addresses (default false).", \.notifications.allowPrivateTargets),
        .string("logging.level", "Log level: trace, debug, info, notice, warning, error, critical (default info).", \.logging.level),
    ]

    static let byPath: [String: ConfigKey] = Dictionary(uniqueKeysWithValues: all.map { ($0.path, $0) })

    /// Quay's `config.yaml` names for the switches Slipway shares with it, accepted as top-level
    /// YAML keys so a line copied from the product guide works as written.
    static let quayAliases: [String: String] = [
        "ROBOTS_DISALLOW": "auth.robotsDisallow",
        "SUPER_USERS": "auth.superUsers",
        "FEATURE_REQUIRE_TEAM_INVITE": "auth.requireTeamInvite",
        "FEATURE_DIRECT_LOGIN": "auth.internalLogin",
        "FEATURE_USER_CREATION": "auth.userCreation",
        "FEATURE_MAILING": "auth.mailVerification",
    ]

    /// The key at `path`, or the key a Quay alias stands for.
    static func key(path: String) -> ConfigKey? {
        byPath[path] ?? quayAliases[path].flatMap { byPath[$0] }
    }
}
