import Accounts
import BuildProtocol
import Foundation
import Registry
import SlipwayCore

/// A build as stored: the request, its queue state and its result.
public struct BuildRecord: Sendable, Equatable {
    public var id: Int64
    public var uuid: String
    public var repositoryID: Int64
    public var namespaceID: Int64
    public var phase: BuildPhase
    public var displayName: String
    public var manualUserID: Int64?
    public var sourceKind: String
    public var fileID: String?
    public var archiveURL: String?
    public var gitURL: String?
    public var commitSHA: String?
    public var subdirectory: String
    public var dockerfilePath: String
    public var context: String
    public var tags: [String]
    public var pullRobotID: Int64?
    /// The trigger that started the build, and what it knew about the commit (JSON object with
    /// Quay's `trigger_metadata` fields: commit, ref, default_branch, git_url, commit_info).
    public var triggerID: Int64?
    public var triggerMetadata: String?
    public var errorMessage: String?
    public var manifestDigests: [String: String]
    public var attempts: Int
    public var notBefore: Int64?
    public var workerID: String?
    public var leaseID: String?
    public var startedAt: Int64?
    public var stopReason: String?
    public var pushTokenUUID: String?
    public var queuedAt: Int64
    public var finishedAt: Int64?
    public var logCount: Int
    /// The last heartbeat of the worker holding the build (shared PostgreSQL queues).
    public var heartbeatAt: Int64? = nil
    /// The namespace slot a leased or stopping build holds (nil while waiting or finished).
    public var runningSlot: Int? = nil
    /// When the current attempt entered each phase a worker reports (unpacking, pulling,
    /// building, pushing), epoch milliseconds; `BuildTimeline` turns them into durations.
    public var phaseStartedAt: [BuildPhase: Int64] = [:]
    /// `--build-arg`s (plain, shown in the build view).
    public var buildArgs: [String: String] = [:]
    /// The ids of the build's secrets (shown); their values are only in `buildSecretsSealed`.
    public var buildSecretIDs: [String] = []
    /// The secrets sealed with the instance key (`BuildInputs`); nil once the build finished.
    public var buildSecretsSealed: String? = nil
    /// The registry layer cache (`namespace/name`), and the user whose write access to it the
    /// build uses (checked again at lease time; `LayerCacheRepository`).
    public var cacheRepository: String? = nil
    public var cacheUserID: Int64? = nil
    /// The write token of the cache repository the running attempt holds (revoked at the end).
    public var cacheTokenUUID: String? = nil
    /// The platforms to build (`os/arch[/variant]`, `BuildPlatforms`), pushed as one image
    /// index; empty: one build for the worker's own platform.
    public var platforms: [String] = []
    /// The phase each platform of a multi-architecture build last reported (its worker's phase
    /// updates carry `platform`).
    public var platformPhases: [String: String] = [:]
}

extension BuildRecord {
    /// A new build request, before it is queued.
    public init(uuid: String = UUID().uuidString.lowercased(), repository: Repository, sourceKind: String, fileID: String? = nil,
                archiveURL: String? = nil, gitURL: String? = nil, commitSHA: String? = nil, subdirectory: String = "",
                dockerfilePath: String, context: String, tags: [String], displayName: String, manualUserID: Int64?) {
        self.init(id: 0, uuid: uuid, repositoryID: repository.id, namespaceID: repository.namespaceID, phase: .waiting, displayName: displayName,
                  manualUserID: manualUserID, sourceKind: sourceKind, fileID: fileID, archiveURL: archiveURL, gitURL: gitURL, commitSHA: commitSHA,
                  subdirectory: subdirectory, dockerfilePath: dockerfilePath, context: context, tags: tags, pullRobotID: nil,
                  triggerID: nil, triggerMetadata: nil, errorMessage: nil,
                  manifestDigests: [:], attempts: 0, notBefore: nil, workerID: nil, leaseID: nil, startedAt: nil, stopReason: nil,
                  pushTokenUUID: nil, queuedAt: Clock.nowMillis(), finishedAt: nil, logCount: 0)
    }
}
