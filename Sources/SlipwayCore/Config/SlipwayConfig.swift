import Foundation

/// Every setting Slipway reads, with its default. Loaded by `ConfigLoader` from a YAML file and
/// then `SLIPWAY_*` environment variables (the environment wins). `ConfigKeys.all` documents each
/// key once; `slipway config` prints that table.
public struct SlipwayConfig: Sendable, Equatable {
    public struct Server: Sendable, Equatable {
        /// Address to bind.
        public var host = "127.0.0.1"
        /// TCP port; 0 picks a free one (tests).
        public var port = 8080
        /// URL clients use to reach this server (realm of the token flow, `Location` headers, UI links).
        /// Empty means "derive from the request's Host header".
        public var publicURL = ""
    }

    public struct Database: Sendable, Equatable {
        public enum Driver: String, Sendable, Equatable, CaseIterable { case sqlite, postgres }
        public var driver: Driver = .sqlite
        /// SQLite file; empty means `<dataDir>/slipway.db`.
        public var sqlitePath = ""
        /// `postgres://user:pass@host:port/db` when `driver` is `postgres`.
        public var postgresURL = ""
        /// Connections one process's PostgreSQL pool may open (the LISTENs for the build queue
        /// and the job queues hold one each for as long as the process runs).
        public var postgresMaxConnections = 16
    }

    public struct Storage: Sendable, Equatable {
        public enum Driver: String, Sendable, Equatable, CaseIterable { case filesystem, s3 }
        public var driver: Driver = .filesystem
        /// Root of blob storage; empty means `<dataDir>/storage`.
        public var path = ""
        public var s3 = S3()

        /// An S3-compatible bucket, when `driver` is `s3`. Empty credentials and region fall
        /// back to `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_REGION`.
        public struct S3: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
            /// Empty means AWS: `https://s3.<region>.amazonaws.com`.
            public var endpoint = ""
            public var region = ""
            public var bucket = ""
            /// Key prefix of every object Slipway writes, e.g. `registry/`.
            public var prefix = ""
            public var accessKey = ""
            /// Never printed: `description` redacts it.
            public var secretKey = ""
            /// `https://host/bucket/key` instead of `https://bucket.host/key` (MinIO, moto, Ceph).
            public var pathStyle = false
            /// Blob GETs answer `307` to a presigned URL instead of streaming through the server.
            public var redirectDownloads = false

            public init() {}

            public var description: String {
                "S3(endpoint: \(endpoint), region: \(region), bucket: \(bucket), prefix: \(prefix), accessKey: \(accessKey), "
                    + "secretKey: \(secretKey.isEmpty ? "" : "<redacted>"), pathStyle: \(pathStyle), redirectDownloads: \(redirectDownloads))"
            }

            public var debugDescription: String { description }
        }
    }

    public struct Registry: Sendable, Equatable {
        /// Maintenance mode: pulls work, pushes and deletes get `405 DENIED`.
        public var readOnly = false
        /// Largest manifest accepted on PUT, in bytes.
        public var maxManifestBytes = 4 * 1024 * 1024
        /// Largest single blob accepted, in bytes (Quay: 20 GiB).
        public var maxBlobBytes: Int64 = 20 * 1024 * 1024 * 1024
        /// Anonymous clients may pull public repositories.
        public var anonymousAccess = true
        /// Service name in tokens and the `WWW-Authenticate` challenge; empty means the request host.
        public var serviceName = ""
    }

    public struct Auth: Sendable, Equatable {
        /// Lifetime of registry bearer tokens. Short so revocations take effect quickly.
        public var tokenLifetimeSeconds = 300
        /// How often (seconds) an issued registry token's account is re-checked; deleting it cuts
        /// access off within this time.
        public var revocationCheckSeconds = 5
        /// bcrypt cost for stored passwords.
        public var bcryptCost = 10
        /// Quay's `FEATURE_REQUIRE_TEAM_INVITE`: users outside an organization join a team only by
        /// accepting an invitation (robots and existing members are always added directly).
        public var requireTeamInvite = false
        /// Quay's `ROBOTS_DISALLOW`: no new robot accounts, and existing robots cannot log in.
        public var robotsDisallow = false
        /// Lifetime of the robot tokens `GET /oauth2/federation/robot/token` issues (Quay: one hour).
        public var robotFederationTokenSeconds = 3600
        /// Quay's `SUPER_USERS`: the users with the superuser role. When empty, the flag stored
        /// on the account (the admin created on first start) decides.
        public var superUsers: [String] = []
        /// OpenID Connect providers offered on `/signin` ("Sign in with NAME"); YAML only
        /// (`auth.oidc`, or Quay's `<SERVICE>_LOGIN_CONFIG`).
        public var oidc: [OIDCProviderConfig] = []
        /// Quay's `FEATURE_DIRECT_LOGIN`: password sign-in on the web UI. Off, only superusers may
        /// still sign in with a password (a way back in when the provider is down).
        public var internalLogin = true
        /// Quay's `FEATURE_USER_CREATION`: anyone may create an account on `/signup`
        /// (`POST /api/v1/user/`). Off by default; turning it off stops new sign-ups at once.
        public var userCreation = false
        /// Quay's `FEATURE_MAILING` as far as accounts go: a self-created account must confirm its
        /// e-mail address through a mailed link before it may push.
        public var mailVerification = false
        /// Accounts one client address may create per hour.
        public var userCreationPerHourPerIP = 5
    }

    public struct Logging: Sendable, Equatable {
        public var level = "info"
    }

    public struct Logs: Sendable, Equatable {
        /// Usage-log rows older than this many days are deleted (hourly); 0 keeps them forever.
        public var retentionDays = 30
        /// Lifetime of the signed download link sent when a log export finishes.
        public var exportLinkSeconds = 3600
    }

    public struct Security: Sendable, Equatable {
        /// Let user-supplied callback URLs (log exports; later notifications and triggers) and the
        /// configured vulnerability feeds reach loopback, private, link-local and metadata addresses. Off in production: on, such URLs
        /// turn the server into a proxy into its own network.
        public var allowPrivateTargets = false
        /// Scans this process runs at once (the in-process scan workers); 0: this process
        /// scans nothing (other replicas sharing the database do).
        public var scanConcurrency = 2
        /// How often a scanning process checks whether imported vulnerability data changed,
        /// to re-match scanned manifests without reading their layers again.
        public var rematchCheckSeconds = 5
        /// Vulnerability feeds the scanner fetches on a schedule (empty: only
        /// `slipway admin vulns import`). Outbound calls, so the same SSRF gate as callbacks:
        /// loopback and private addresses only with `allowPrivateTargets`.
        public var feeds: [FeedSource] = []
        /// Seconds between checks of each feed (conditional requests); 0 disables fetching.
        public var updateIntervalSeconds = 6 * 3600
        /// A feed not confirmed current for this long is reported stale by `/health/instance`
        /// (0: never).
        public var maxFeedAgeSeconds = 0
        /// Whether stale feeds also make `/health/instance` answer 503 (default: reported only).
        public var staleFeedsFailHealth = false
        /// Largest feed body downloaded, in bytes.
        public var feedMaxBytes: Int64 = 512 << 20
    }

    /// One configured vulnerability feed: its name (the source an import replaces), URL, and
    /// format when it should not be recognised from the content.
    public struct FeedSource: Sendable, Equatable, Codable {
        public var name: String
        public var url: String
        /// `osv`, `debian` or `alpine`; nil: recognised from the content.
        public var format: String?

        public init(name: String, url: String, format: String? = nil) {
            self.name = name
            self.url = url
            self.format = format
        }
    }

    public struct GC: Sendable, Equatable {
        /// Seconds between garbage-collection passes (0 disables the background collector).
        public var intervalSeconds = 30
        /// Protection for fresh manifests and blob links that nothing references yet.
        public var graceSeconds = 3600
        /// Seconds between removing a blob's row and deleting its bytes (a late push wins).
        public var tombstoneSeconds = 60
        /// Idle upload sessions older than this are removed.
        public var uploadIdleSeconds = 2 * 86_400
    }

    public struct Builds: Sendable, Equatable {
        /// Shared secret of `slipway worker` processes; empty means a random one per start
        /// (enough for the in-process workers of `slipway serve`).
        public var workerToken = ""
        public var maxConcurrentPerNamespace = 2
        public var maxQueuedPerNamespace = 50
        public var timeoutSeconds = 7200
        /// Workers started inside `slipway serve` (0 = only remote workers).
        public var inProcessWorkers = 1
        /// Largest uploaded build context, in bytes.
        public var maxContextBytes: Int64 = 1 << 30
        /// On SIGTERM, how long running builds may go on before they are stopped and requeued.
        public var shutdownGraceSeconds = 30
        /// Stored log entries per build; past this the log says it was truncated.
        public var maxLogEntries = 100_000
        /// A worker that has not heart-beaten for this long loses its build (which is retried).
        public var leaseTimeoutSeconds = 60
        /// A new lease whose worker has not sent its first heartbeat (sent as soon as it has the
        /// build) within this long was never received: the build goes back in line at once.
        public var leaseAcceptSeconds = 15
        /// An uploaded build context no build was started from is deleted this long after its
        /// upload; one a build used goes once that build has finished.
        public var fileDropTTLSeconds = 3600
        /// Where in-process workers keep their per-namespace base-image storages; empty:
        /// `<dataDir>/build-cache`.
        public var baseImageCacheDir = ""
        /// Bound of that cache in bytes (least recently used namespaces go first); 0 disables it.
        public var baseImageCacheMaxBytes: Int64 = 10 << 30
        /// How the in-process workers isolate build steps (`slipway worker --isolation`).
        public var isolation: BuildIsolation = .rootless
        /// The unprivileged account rootless builds run as (created with a subordinate id range
        /// when missing and the worker runs as root).
        public var buildUser = "slipway-build"
        /// Default resource limits of every build (0: unlimited); `timeoutSeconds` is unused here.
        public var limits = BuildResourceLimits(pids: 4096)
        /// Per-namespace replacements of `limits`.
        public var namespaceLimits: [NamespaceBuildLimits] = []
    }

    public struct Notifications: Sendable, Equatable {
        /// How the SMTP connection is protected: plain, upgraded with STARTTLS, or TLS from the start.
        public enum SMTPSecurity: String, Sendable, Equatable, CaseIterable { case none, starttls, tls }
        /// SMTP server for e-mail notifications; empty disables e-mail delivery (such deliveries fail visibly).
        public var smtpHost = ""
        public var smtpPort = 25
        /// Envelope and header sender of notification mail.
        public var smtpFrom = "slipway@localhost"
        /// AUTH PLAIN credentials; empty username means no authentication.
        public var smtpUsername = ""
        public var smtpPassword = ""
        public var smtpSecurity: SMTPSecurity = .none
        /// PEM client certificate and key presented on HTTPS webhook calls, so receivers can verify
        /// the call came from this registry (the guide's "SSL client certificate"). Both or neither.
        public var clientCertificatePath = ""
        public var clientKeyPath = ""
        /// Extra PEM trust roots for HTTPS webhooks and SMTP TLS (on-prem receivers with a private CA).
        public var trustRootsPath = ""
        /// One delivery attempt (connect, TLS, request, response) may take at most this long.
        public var deliveryTimeoutSeconds = 10
        /// Attempts per delivery before it is given up and counted as a failure.
        public var maxAttempts = 5
        /// Seconds between checks of the event outbox and delivery queue; 0 means this process
        /// delivers no notifications (another replica does; tests drive delivery themselves).
        public var dispatchIntervalSeconds = 1
        /// Let webhook and Slack URLs reach loopback, private, link-local and metadata addresses
        /// (on-prem receivers on private networks; tests). `security.allowPrivateTargets` also allows them.
        public var allowPrivateTargets = false
    }

    public var builds = Builds()
    public var gc = GC()
    public var server = Server()
    /// Directory for the embedded defaults (SQLite file, blob storage).
    public var dataDir = "./data"
    public var database = Database()
    public var storage = Storage()
    public var registry = Registry()
    public var auth = Auth()
    public var logging = Logging()
    public var logs = Logs()
    public var security = Security()
    public var notifications = Notifications()

    public init() {}

    public var resolvedSQLitePath: String {
        database.sqlitePath.isEmpty ? (dataDir as NSString).appendingPathComponent("slipway.db") : database.sqlitePath
    }

    public var resolvedStoragePath: String {
        storage.path.isEmpty ? (dataDir as NSString).appendingPathComponent("storage") : storage.path
    }
}
