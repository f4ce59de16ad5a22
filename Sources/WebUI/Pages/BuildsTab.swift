import Accounts
import BuildOrchestrator
import Foundation
import Registry

/// The Builds tab: recent builds, Start New Build (upload a Dockerfile or an archive, in
/// `builds.js`) and the build triggers panel (`triggers.js`, all through the trigger API).
struct BuildsTab {
    let server: PageServer

    static let shown = 50

    struct Row {
        let uuid: String
        let shortID: String
        let url: String
        let phase: String
        let displayName: String
        let source: String
        let tags: String
        let started: TimeView
    }

    struct Model {
        let header: RepositoryHeader
        let rows: [Row]
        let hasRows: Bool
        let canWrite: Bool
        let canAdmin: Bool
    }

    func page(_ r: PageRequest, access: RepositoryAccess, header: RepositoryHeader) async throws -> Page {
        let repo = access.repository
        var rows: [Row] = []
        for b in try await server.builds.builds(repositoryID: repo.id, since: nil, limit: Self.shown) {
            rows.append(Row(uuid: b.uuid, shortID: String(b.uuid.prefix(8)), url: BuildPage.url(repo.path, uuid: b.uuid), phase: b.phase.rawValue,
                            displayName: b.displayName, source: try await BuildSource.of(b, accounts: server.services.accounts, triggers: server.triggers).text,
                            tags: b.tags.joined(separator: ", "), started: TimeView(millis: b.queuedAt)))
        }
        let model = Model(header: header, rows: rows, hasRows: !rows.isEmpty, canWrite: access.canWrite, canAdmin: access.canAdmin)
        return Page(title: "\(repo.path) · builds", template: "tab_builds", model: model, scripts: ["builds.js", "triggers.js"], nav: .repositories)
    }
}
