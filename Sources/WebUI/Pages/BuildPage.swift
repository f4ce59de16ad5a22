import Accounts
import BuildOrchestrator
import Foundation
import Registry

/// `/repository/<repo>/build/<uuid>`: phase, details and the live log (`build-log.js` polls
/// `GET .../build/{uuid}/logs?start=N` every second while the build runs). The log needs write
/// access, as its API route does; readers see the phase only. A running build whose cancel was
/// asked for shows "cancelling" until its worker has stopped it and the phase is `cancelled`.
struct BuildPage {
    let server: PageServer

    struct Model {
        let header: RepositoryHeader
        let uuid: String
        let phase: String
        /// What the badge says: the phase, or "cancelling" while a cancel is on its way.
        let shownPhase: String
        let cancelling: Bool
        let terminal: Bool
        let displayName: String
        let source: BuildSource
        let tags: String
        let queued: TimeView
        let started: TimeView?
        let finished: TimeView?
        let error: String?
        let dockerfilePath: String
        let context: String
        /// `NAME=value` pairs, and the secrets' ids (nil when none).
        let buildArgs: String?
        let buildSecrets: String?
        /// A multi-architecture build's platforms with each one's phase (nil when it builds the
        /// worker's own).
        let platforms: String?
        let canReadLogs: Bool
        let canCancel: Bool
        let buildsURL: String
        let textURL: String
        /// Queued → leased → each phase → finished, with durations (`BuildTimeline`).
        let timing: [TimingRow]
        let total: String?
    }

    struct TimingRow {
        let phase: String
        let started: TimeView
        /// "1.23 s", or "running" for the segment the build is in.
        let duration: String
    }

    static func timingRows(_ timeline: BuildTimeline) -> [TimingRow] {
        timeline.segments.map { segment in
            TimingRow(phase: segment.phase == .waiting ? "queued" : segment.phase.rawValue, started: TimeView(millis: segment.start),
                      duration: segment.millis.map(seconds) ?? "running")
        }
    }

    static func seconds(_ millis: Int64) -> String { String(format: "%.2f s", Double(millis) / 1000) }

    static let terminalPhases: Set<String> = ["complete", "error", "internalerror", "cancelled"]

    func page(_ r: PageRequest, access: RepositoryAccess, uuid: String) async throws -> Page {
        let repo = access.repository
        guard let b = try await server.builds.build(uuid: uuid), b.repositoryID == repo.id else { throw PageExit.notFound }
        let header = try await RepositoryHeader.make(access, tab: "builds", request: r, services: server.services)
        let phase = b.phase.rawValue
        let terminal = Self.terminalPhases.contains(phase)
        let cancelling = !terminal && b.stopReason == "cancelled"
        let model = Model(
            header: header, uuid: b.uuid, phase: phase, shownPhase: cancelling ? "cancelling" : phase, cancelling: cancelling,
            terminal: terminal, displayName: b.displayName,
            source: try await BuildSource.of(b, accounts: server.services.accounts, triggers: server.triggers), tags: b.tags.joined(separator: ", "),
            queued: TimeView(millis: b.queuedAt), started: TimeView(millis: b.startedAt), finished: TimeView(millis: b.finishedAt),
            error: b.errorMessage, dockerfilePath: b.dockerfilePath, context: b.context.isEmpty ? "/" : b.context,
            buildArgs: b.buildArgs.isEmpty ? nil : b.buildArgs.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "),
            buildSecrets: b.buildSecretIDs.isEmpty ? nil : b.buildSecretIDs.joined(separator: ", "),
            platforms: b.platforms.isEmpty ? nil : b.platforms.map { "\($0): \(b.platformPhaseView[$0] ?? "waiting")" }.joined(separator: ", "),
            canReadLogs: access.canWrite, canCancel: access.canAdmin && !terminal && !cancelling,
            buildsURL: RepositoryURL.page(repo.path, tab: "builds"),
            textURL: "/api/v1/repository/" + PageServer.pathEscape(repo.path.description) + "/build/" + PageServer.pathEscape(b.uuid) + "/logs/text",
            timing: Self.timingRows(BuildTimeline(b)), total: BuildTimeline(b).totalMillis.map(Self.seconds))
        return Page(title: "Build \(b.uuid.prefix(8)) · \(repo.path)", template: "build", model: model, scripts: ["build-log.js"], nav: .repositories)
    }

    static func url(_ path: RepositoryPath, uuid: String) -> String {
        "/repository/" + PageServer.pathEscape(path.description) + "/build/" + PageServer.pathEscape(uuid)
    }
}
