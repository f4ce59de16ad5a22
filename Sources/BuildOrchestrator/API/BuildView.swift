import Accounts
import BuildProtocol
import Foundation
import Registry
import SlipwayCore

/// The build view of Quay's API (§1.4), with `subdirectory` and `dockerfile_path` kept distinct
/// (Quay fills both with the same value). Quay clients expect every key, with null where there
/// is no value.
struct BuildView: Encodable {
    struct RepositoryRef: Encodable { let namespace: String; let name: String }
    let id: String
    let phase: String
    let started: String
    let display_name: String
    let status: [String: String]
    @NullWhenAbsent var error: String?
    let subdirectory: String
    let dockerfile_path: String
    let context: String
    let tags: [String]
    @NullWhenAbsent var resource_key: String?
    @NullWhenAbsent var archive_url: String?
    @NullWhenAbsent var manual_user: String?
    let is_writer: Bool
    @NullWhenAbsent var trigger_metadata: EventValue?
    @NullWhenAbsent var trigger: EventValue?
    @NullWhenAbsent var pull_robot: String?
    let repository: RepositoryRef
    let manifest_digests: [String: String]
    /// Slipway's additions (#18): the build's `--build-arg`s, and the ids of its secrets (never
    /// their values).
    let build_args: [String: String]
    let build_secrets: [String]
    /// The registry layer cache (`namespace/name`), if the build has one.
    @NullWhenAbsent var cache_repository: String?
    /// Slipway's addition: when the build was queued, leased, entered each phase and finished.
    let timing: BuildTimingView
    /// Slipway's additions (#18): the platforms of a multi-architecture build (empty: one build
    /// for the worker's own platform), and while it waits, why no worker takes it (no connected
    /// worker runs all of its platforms).
    let platforms: [String]
    /// Each platform's phase (`BuildRecord.platformPhaseView`); empty for a single-platform build.
    let platform_phases: [String: String]
    @NullWhenAbsent var waiting_reason: String? = nil

    init(_ b: BuildRecord, repository: Repository, isWriter: Bool, manualUser: String?, trigger: EventValue? = nil, pullRobot: String? = nil) {
        id = b.uuid
        phase = b.phase.rawValue
        started = APIDates.rfc2822(millis: b.queuedAt)
        display_name = b.displayName
        status = [:]
        error = b.errorMessage
        subdirectory = b.subdirectory
        dockerfile_path = b.dockerfilePath
        context = b.context
        tags = b.tags
        resource_key = isWriter ? b.fileID : nil
        archive_url = isWriter ? b.archiveURL : nil
        manual_user = manualUser
        is_writer = isWriter
        trigger_metadata = b.triggerMetadata.flatMap(EventValue.parse)
        self.trigger = trigger
        pull_robot = pullRobot
        self.repository = RepositoryRef(namespace: repository.namespace, name: repository.name)
        manifest_digests = b.manifestDigests
        build_args = b.buildArgs
        build_secrets = b.buildSecretIDs
        cache_repository = b.cacheRepository
        timing = BuildTimingView(BuildTimeline(b))
        platforms = b.platforms
        platform_phases = b.platformPhaseView
    }
}

/// A build's timeline in the API: ISO 8601 times (UTC, milliseconds) and durations in seconds.
/// `phases` lists the segments the build went through: `waiting` (queued → leased),
/// `build-scheduled` (leased → the worker's first phase), then each phase the worker reported;
/// the running segment has no `ended` and no `seconds` yet.
struct BuildTimingView: Encodable {
    struct Segment: Encodable {
        let phase: String
        let started: String
        @NullWhenAbsent var ended: String?
        @NullWhenAbsent var seconds: Double?
    }
    let queued: String
    @NullWhenAbsent var leased: String?
    @NullWhenAbsent var completed: String?
    @NullWhenAbsent var total_seconds: Double?
    let phases: [Segment]

    init(_ t: BuildTimeline) {
        queued = Self.iso(t.queuedAt)
        leased = t.leasedAt.map(Self.iso)
        completed = t.finishedAt.map(Self.iso)
        total_seconds = t.totalMillis.map(Self.seconds)
        phases = t.segments.map { Segment(phase: $0.phase.rawValue, started: Self.iso($0.start), ended: $0.end.map(Self.iso), seconds: $0.millis.map(Self.seconds)) }
    }

    static func iso(_ millis: Int64) -> String {
        Date(timeIntervalSince1970: Double(millis) / 1000).formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    static func seconds(_ millis: Int64) -> Double { Double(millis) / 1000 }
}

/// Quay's `escape_tag`: a leading non-word character becomes `_`, characters outside
/// `[A-Za-z0-9_.-]` become `_`, at most 127 characters, and empty means `latest`.
enum TagEscaping {
    static func escape(_ tag: String) -> String {
        var out = String(tag.map { c -> Character in
            (c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "." || c == "-")) ? c : "_"
        }.prefix(127))
        if let first = out.first, first == "." || first == "-" { out = "_" + out.dropFirst() }
        return out.isEmpty ? "latest" : out
    }
}

/// Where the Dockerfile and context are, from the request fields (§1.4): `dockerfile_path` set →
/// that file, context = `context` or its directory; else `subdirectory` → context and
/// `<sub>/Dockerfile`; else context = `context` or the root. Paths are normalised and may not
/// climb out of the upload.
enum BuildPaths {
    struct Resolved: Equatable { let context: String; let dockerfile: String }

    static func normalise(_ path: String?) throws(APIError) -> String {
        let parts = (path ?? "").split(separator: "/").filter { $0 != "." && !$0.isEmpty }
        if parts.contains("..") { throw APIError.invalidRequest("build paths may not contain '..'") }
        return parts.joined(separator: "/")
    }

    static func resolve(subdirectory: String?, dockerfilePath: String?, context: String?) throws(APIError) -> Resolved {
        let dockerfile = try normalise(dockerfilePath)
        let ctx = try normalise(context)
        let sub = try normalise(subdirectory)
        if !dockerfile.isEmpty {
            let dir = dockerfile.split(separator: "/").dropLast().joined(separator: "/")
            let c = (context?.isEmpty == false) ? ctx : dir
            guard c.isEmpty || dockerfile.hasPrefix(c + "/") || dockerfile == c else {
                throw APIError.invalidRequest("the Dockerfile must be inside the context")
            }
            return Resolved(context: c, dockerfile: dockerfile)
        }
        if !sub.isEmpty { return Resolved(context: sub, dockerfile: sub + "/Dockerfile") }
        return Resolved(context: ctx, dockerfile: ctx.isEmpty ? "Dockerfile" : ctx + "/Dockerfile")
    }
}

/// Public face of the request rules, for tests and the triggers module.
public enum BuildRequestRules {
    public static func escapeTag(_ tag: String) -> String { TagEscaping.escape(tag) }
}

extension BuildView {
    /// The view with its names resolved (manual user, pull robot, trigger summary).
    static func make(_ b: BuildRecord, repository: Repository, isWriter: Bool, services: RegistryServices, sources: any BuildSourceSecrets) async throws -> BuildView {
        let manual = try await b.manualUserID.asyncMap { try await services.accounts.namespace(id: $0)?.name } ?? nil
        let robot = try await b.pullRobotID.asyncMap { try await services.accounts.namespace(id: $0)?.name } ?? nil
        var trigger: EventValue?
        if let id = b.triggerID { trigger = try await sources.triggerSummary(triggerID: id) }
        return BuildView(b, repository: repository, isWriter: isWriter, manualUser: manual, trigger: trigger, pullRobot: robot)
    }
}
