// The worker <-> orchestrator wire protocol (HTTP + JSON). Both sides import these types; a
// worker never links the server.
//
//   POST /buildman/v1/lease                  LeaseRequest → 200 BuildPack | 204 (long-poll, ≤ 5 s)
//   POST /buildman/v1/builds/{id}/heartbeat  Heartbeat → HeartbeatResponse (carries cancellation;
//                                            with `waitSeconds`, held until a stop or ≤ 5 s)
//   POST /buildman/v1/builds/{id}/phase      PhaseUpdate → 204
//   POST /buildman/v1/builds/{id}/logs       LogBatch → LogBatchResponse (duplicates ignored, gaps reported)
//   POST /buildman/v1/builds/{id}/complete   Completion → 204
//
// Every call carries `Authorization: Bearer <worker token>` (config `builds.workerToken`); the
// per-build calls also carry `X-Slipway-Lease: <lease id>` from the build pack, so a worker
// that lost its lease cannot write into a build that moved to another worker.

public enum WorkerProtocol {
    public static let version = 1
    public static let leasePath = "/buildman/v1/lease"
    public static func buildPath(_ id: String, _ action: String) -> String { "/buildman/v1/builds/\(id)/\(action)" }
    public static let leaseHeader = "X-Slipway-Lease"
}

public struct LeaseRequest: Codable, Sendable, Equatable {
    public var workerID: String
    public var protocolVersion: Int
    /// The platforms (`os/arch[/variant]`) this worker can build: its native one and those its
    /// qemu-user binfmt_misc entries emulate. A multi-platform build is leased only to a worker
    /// that lists all of its platforms. Absent (older workers): single-platform builds only.
    public var platforms: [String]?
    public init(workerID: String, protocolVersion: Int = WorkerProtocol.version, platforms: [String]? = nil) {
        self.workerID = workerID
        self.protocolVersion = protocolVersion
        self.platforms = platforms
    }
}

/// Credentials for a registry login (`podman login`/`buildah --creds`).
public struct RegistryCredentials: Codable, Sendable, Equatable {
    public var username: String
    public var password: String
    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }
}

/// Where the build context comes from.
public enum BuildSource: Codable, Sendable, Equatable {
    /// An uploaded Dockerfile or archive, fetched from the orchestrator (a signed URL).
    case upload(url: String)
    /// An `archive_url` given by the user (http/https only, checked by the orchestrator).
    case archiveURL(url: String)
    /// A git repository at an exact commit; `sshPrivateKey` is the trigger's deploy key (PEM).
    case git(url: String, commit: String, sshPrivateKey: String?)
}

/// Everything a worker needs to run one build.
public struct BuildPack: Codable, Sendable, Equatable {
    public var buildID: String
    public var leaseID: String
    public var attempt: Int
    public var source: BuildSource
    /// Context directory inside the source ("" = root) and Dockerfile path relative to it.
    public var contextPath: String
    public var dockerfilePath: String
    /// `host:port` of this registry as the worker reaches it, and the target repository.
    public var registry: String
    public var repository: String
    public var tags: [String]
    /// Short-lived push credentials for `repository` (a write delegate token).
    public var pushCredentials: RegistryCredentials
    /// The pull robot's credentials, resolved at lease time (never stored in the queue).
    public var pullCredentials: RegistryCredentials?
    /// Registry TLS verification for pulls and pushes.
    public var tlsVerify: Bool
    public var timeoutSeconds: Int
    public var heartbeatIntervalSeconds: Int
    /// Whether an `archiveURL` source may reach loopback, private, link-local or cloud-metadata
    /// addresses (the orchestrator's `security.allowPrivateTargets`); the worker's download
    /// applies the same SSRF gate the orchestrator applied when the build was requested, to the
    /// addresses it actually connects to. Absent (nil) from orchestrators that predate the field:
    /// treated as false. Upload URLs point at the orchestrator itself and are never gated.
    public var allowPrivateTargets: Bool?
    /// For a git source over ssh: the host keys the clone trusts (a trigger's pinned keys).
    /// Absent from older orchestrators; a worker then refuses every ssh host key.
    public var sshHostKeys: GitHostKeyPolicy?
    /// `--build-arg NAME=value` for the builder (plain: shown in the build view). Absent from
    /// older orchestrators: none.
    public var buildArgs: [String: String]?
    /// Secret id → value, mounted with `--secret id=ID,src=FILE` (a `RUN --mount=type=secret`
    /// reads it); unsealed at lease time and carried only in this response. The worker keeps
    /// them out of the context, the image and the log.
    public var buildSecrets: [String: String]?
    /// The registry layer cache of this build (`--layers --cache-from/--cache-to`), with a write
    /// token for that repository only. Absent: no cache.
    public var layerCache: BuildLayerCache?
    /// What the orchestrator decided for this build that its log should say (for example a
    /// layer cache it skipped); the worker logs them first.
    public var notices: [String]?
    /// Resource limits of the build (its namespace's, else the server's defaults). Absent from
    /// older orchestrators: none.
    public var limits: BuildLimits?
    /// The platforms to build (`os/arch[/variant]`), each with `--platform`, pushed as one image
    /// index under `tags`. Absent or empty: one build for the worker's own platform, as before.
    public var platforms: [String]?

    public init(buildID: String, leaseID: String, attempt: Int, source: BuildSource, contextPath: String, dockerfilePath: String,
                registry: String, repository: String, tags: [String], pushCredentials: RegistryCredentials,
                pullCredentials: RegistryCredentials?, tlsVerify: Bool, timeoutSeconds: Int, heartbeatIntervalSeconds: Int,
                allowPrivateTargets: Bool? = nil,
                sshHostKeys: GitHostKeyPolicy? = nil, buildArgs: [String: String]? = nil, buildSecrets: [String: String]? = nil,
                layerCache: BuildLayerCache? = nil, notices: [String]? = nil, limits: BuildLimits? = nil,
                platforms: [String]? = nil) {
        self.buildID = buildID
        self.leaseID = leaseID
        self.attempt = attempt
        self.source = source
        self.contextPath = contextPath
        self.dockerfilePath = dockerfilePath
        self.registry = registry
        self.repository = repository
        self.tags = tags
        self.pushCredentials = pushCredentials
        self.pullCredentials = pullCredentials
        self.tlsVerify = tlsVerify
        self.timeoutSeconds = timeoutSeconds
        self.heartbeatIntervalSeconds = heartbeatIntervalSeconds
        self.allowPrivateTargets = allowPrivateTargets
        self.sshHostKeys = sshHostKeys
        self.buildArgs = buildArgs
        self.buildSecrets = buildSecrets
        self.layerCache = layerCache
        self.notices = notices
        self.limits = limits
        self.platforms = platforms
    }
}

/// A repository of the build's namespace that holds intermediate layers between builds, so a
/// build on any worker reuses the steps an earlier build already ran.
public struct BuildLayerCache: Codable, Sendable, Equatable {
    /// `namespace/name`, on the build's registry.
    public var repository: String
    public var credentials: RegistryCredentials
    public init(repository: String, credentials: RegistryCredentials) {
        self.repository = repository
        self.credentials = credentials
    }
}

public struct Heartbeat: Codable, Sendable, Equatable {
    public var workerID: String
    /// Asks the orchestrator to hold the answer up to this long (it may hold less) and to answer
    /// as soon as the build must stop: a long-poll, so a cancel reaches the worker at once.
    /// Absent (older workers): answered at once.
    public var waitSeconds: Int?
    public init(workerID: String, waitSeconds: Int? = nil) {
        self.workerID = workerID
        self.waitSeconds = waitSeconds
    }
}

public struct HeartbeatResponse: Codable, Sendable, Equatable {
    /// Set when the worker must stop.
    public var stop: StopReason?
    /// True when the orchestrator held the request (it understood `waitSeconds`): the worker
    /// heartbeats again at once. Absent (older orchestrators): wait the heartbeat interval.
    public var held: Bool?
    public init(stop: StopReason?, held: Bool? = nil) {
        self.stop = stop
        self.held = held
    }
}

public struct PhaseUpdate: Codable, Sendable, Equatable {
    public var phase: BuildPhase
    /// Extra details (pulling: `base_image`, `base_image_tag`, `registry_url`, `pull_username`).
    public var data: [String: String]
    public init(phase: BuildPhase, data: [String: String] = [:]) {
        self.phase = phase
        self.data = data
    }
}

/// One build-log entry as Quay's API shows it: plain output lines have no type; `command`
/// entries are Dockerfile steps; `phase` entries mark phase changes; `error` entries failures.
public struct BuildLogEntry: Codable, Sendable, Equatable {
    public var message: String
    public var type: String?
    public var data: [String: String]?
    public init(message: String, type: String? = nil, data: [String: String]? = nil) {
        self.message = message
        self.type = type
        self.data = data
    }
}

public struct LogBatch: Codable, Sendable, Equatable {
    /// Sequence number of `entries[0]`; sequences start at 0 and are contiguous per build.
    public var firstSequence: Int
    public var entries: [BuildLogEntry]
    public init(firstSequence: Int, entries: [BuildLogEntry]) {
        self.firstSequence = firstSequence
        self.entries = entries
    }
}

public struct LogBatchResponse: Codable, Sendable, Equatable {
    /// The next sequence the orchestrator expects (resend from here after a gap).
    public var nextSequence: Int
    public init(nextSequence: Int) { self.nextSequence = nextSequence }
}

public struct Completion: Codable, Sendable, Equatable {
    public enum Outcome: String, Codable, Sendable {
        case complete, error, internalError = "internalerror", cancelled
    }
    public var outcome: Outcome
    public var message: String?
    /// Pushed tag → manifest digest.
    public var manifestDigests: [String: String]
    /// `sha256:…` of the Dockerfile the build used (for its provenance). Absent from older workers.
    public var dockerfileDigest: String?
    public init(outcome: Outcome, message: String? = nil, manifestDigests: [String: String] = [:], dockerfileDigest: String? = nil) {
        self.outcome = outcome
        self.message = message
        self.manifestDigests = manifestDigests
        self.dockerfileDigest = dockerfileDigest
    }
}
