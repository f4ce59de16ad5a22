import Accounts
import BuildProtocol
import Events
import Foundation
import Registry
import SlipwayCore

/// What a trigger that queues a build already knows: its uuid (Quay's `trigger_id`) and the
/// metadata it stored on the build, so the `build_queued` event needs no lookup and no re-parsing.
public struct TriggerContext: Sendable {
    public let uuid: String
    public let metadata: [String: EventValue]
    public init(uuid: String, metadata: [String: EventValue]) {
        self.uuid = uuid
        self.metadata = metadata
    }
}

/// The build events of the notification system (`build_queued`, `build_start`, `build_success`,
/// `build_failure`, `build_cancelled`), with Quay's payload fields. The queue emits them at the
/// state changes themselves, so every path (API, trigger, worker, lease expiry, timeout) does.
struct BuildEvents: Sendable {
    let services: RegistryServices
    let sources: any BuildSourceSecrets

    /// `homepage` links to the build page; `docker_url` is what `podman pull` takes. Both come
    /// from `server.publicURL` (falling back to the configured host and port).
    func baseURL() -> String {
        let configured = services.config.server.publicURL
        if !configured.isEmpty { return configured.hasSuffix("/") ? String(configured.dropLast()) : configured }
        return "http://\(services.config.server.host):\(services.config.server.port)"
    }

    func payload(_ b: BuildRecord, repository repo: Repository, trigger known: TriggerContext? = nil) async -> [String: EventValue] {
        let base = baseURL()
        let host = base.replacingOccurrences(of: "https://", with: "").replacingOccurrences(of: "http://", with: "")
        var p: [String: EventValue] = [
            "build_id": .string(b.uuid), "build_name": .string(b.displayName), "docker_tags": .strings(b.tags),
            "repository": .string(repo.path.description), "namespace": .string(repo.namespace), "name": .string(repo.name),
            "docker_url": .string("\(host)/\(repo.path)"), "homepage": .string("\(base)/repository/\(repo.path)/build/\(b.uuid)"),
            // A trigger run started by hand is manual too (it has a manual user).
            "is_manual": .bool(b.triggerID == nil || b.manualUserID != nil),
        ]
        if let user = b.manualUserID, let name = try? await services.accounts.namespace(id: user)?.name { p["manual_user"] = .string(name) }
        if let meta = known.map({ EventValue.object($0.metadata) }) ?? b.triggerMetadata.flatMap(EventValue.parse) {
            p["trigger_metadata"] = meta
            if let kind = meta["trigger_kind"]?.stringValue { p["trigger_kind"] = .string(kind) }
        }
        // Quay's trigger_id is the trigger's uuid.
        if let known {
            p["trigger_id"] = .string(known.uuid)
        } else if let trigger = b.triggerID, let summary = try? await sources.triggerSummary(triggerID: trigger), let uuid = summary["id"] {
            p["trigger_id"] = uuid
        }
        return p
    }

    /// An event ready to be written, in the transaction of the change it announces.
    struct Prepared: Sendable {
        let kind: RepositoryEventKind
        let repository: Repository
        let payload: [String: EventValue]
    }

    /// The event for `b`; `finalError`/`finalDigests` describe an outcome not stored yet. A
    /// caller that already holds the repository (and the trigger's uuid) passes them, so
    /// preparing reads nothing.
    func prepare(_ kind: RepositoryEventKind, _ b: BuildRecord, repository known: Repository? = nil, trigger: TriggerContext? = nil,
                 finalError: String? = nil, finalDigests: [String: String]? = nil) async throws -> Prepared? {
        let repository: Repository?
        if let known, known.id == b.repositoryID { repository = known } else { repository = try await services.accounts.repositoryByID(b.repositoryID) }
        guard let repo = repository else { return nil }
        var p = await payload(b, repository: repo, trigger: trigger)
        if kind == .buildFailure { p["error_message"] = .string(finalError ?? b.errorMessage ?? "the build failed") }
        if kind == .buildSuccess {
            // As the guide shows them: pullable references, `host/ns/repo@sha256:...`.
            let docker = p["docker_url"]?.stringValue ?? repo.path.description
            p["manifest_digests"] = .strings(Array(Set((finalDigests ?? b.manifestDigests).values)).sorted().map { "\(docker)@\($0)" })
        }
        return Prepared(kind: kind, repository: repo, payload: p)
    }

    func emit(_ kind: RepositoryEventKind, _ b: BuildRecord) async throws {
        guard let event = try await prepare(kind, b) else { return }
        try await services.events.emit(kind: event.kind, repository: event.repository, payload: event.payload)
    }

    /// The event for a build's final phase.
    static func kind(forFinal phase: BuildPhase) -> RepositoryEventKind {
        switch phase {
        case .complete: return .buildSuccess
        case .cancelled: return .buildCancelled
        default: return .buildFailure
        }
    }
}
