import Accounts
import Audit
import BuildOrchestrator
import Foundation
import Registry
import SlipwayCore

/// Creates the build for a trigger (one path for webhooks and manual runs): resolves the
/// Dockerfile and context, computes the tags, stores the trigger metadata and queues it.
struct TriggerBuilder: Sendable {
    let services: RegistryServices
    let queue: BuildQueue

    enum Result: Sendable {
        case queued(BuildRecord)
        case queueFull(limit: Int)
    }

    /// Who asked for the build: a webhook (no user) or a manual run.
    struct Origin: Sendable {
        var manualUser: Namespace?
        var performer: AuditEvent.Actor?
        var ip: String?
    }

    /// Queues a build of `trigger` for `metadata` (normalised trigger metadata without
    /// `git_url`). The commit the worker checks out is `metadata.commit`, or the ref when a
    /// manual run names a branch or tag (the worker resolves it).
    func start(_ trigger: BuildTrigger, repository: Repository, metadata input: [String: EventValue], origin: Origin) async throws -> Result {
        guard let source = trigger.config.buildSource else { throw DomainError.invalidInput("the trigger has no build_source") }
        var metadata = input
        metadata["git_url"] = .string(source)
        metadata["trigger_kind"] = .string(trigger.service)
        let commit = metadata["commit"]?.stringValue
        let ref = metadata["ref"]?.stringValue
        guard let checkout = commit ?? ref else { throw DomainError.invalidInput("a commit or a ref is required") }
        let paths = try TriggerPaths.resolve(dockerfilePath: trigger.config.dockerfilePath, context: trigger.config.context)
        let tags = TriggerTags.compute(config: trigger.config, metadata: metadata)
        let display = commit.map { String($0.prefix(7)) } ?? ref.flatMap(GitRefRules.parse)?.name ?? checkout
        var record = BuildRecord(repository: repository, sourceKind: "git", gitURL: source, commitSHA: checkout,
                                 dockerfilePath: paths.dockerfile, context: paths.context, tags: tags, displayName: display,
                                 manualUserID: origin.manualUser?.id)
        record.subdirectory = paths.context
        record.triggerID = trigger.id
        record.triggerMetadata = Self.encode(metadata)
        record.pullRobotID = trigger.pullRobotID
        let secrets: [String: String]
        do {
            secrets = try trigger.openBuildSecrets(box: services.secretBox)
        } catch {
            throw DomainError.invalidInput("the trigger's build secrets cannot be unsealed (was the instance key replaced?); set config.build_secrets again")
        }
        try record.setInputs(BuildInputs(arguments: trigger.config.buildArgs, secrets: secrets), box: services.secretBox)
        record.platforms = trigger.config.platforms
        if let cache = trigger.config.cacheRepository {
            record.cacheRepository = cache
            record.cacheUserID = trigger.connectedUserID
        }
        switch try await queue.enqueue(record, repository: repository, trigger: .init(uuid: trigger.uuid, metadata: metadata)) {
        case .queueFull(let limit):
            return .queueFull(limit: limit)
        case .accepted(let stored):
            var log: [String: String] = [
                "build_uuid": stored.uuid, "trigger_id": trigger.uuid, "trigger_kind": trigger.service,
                "trigger_metadata": record.triggerMetadata ?? "{}", "trigger_manual": origin.manualUser == nil ? "false" : "true",
                "is_manual": origin.manualUser == nil ? "false" : "true",
            ]
            if let user = origin.manualUser { log["manual_user"] = user.name }
            services.auditLog.record(.repository(.buildDockerfile, repository, performer: origin.performer, ip: origin.ip, log))
            return .queued(stored)
        }
    }

    static func encode(_ value: [String: EventValue]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
