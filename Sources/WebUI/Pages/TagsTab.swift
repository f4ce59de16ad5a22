import Accounts
import Foundation
import Registry

/// The Tags tab: live tags, newest first, 50 a page (a repository with 10,000 tags is still
/// one indexed query per page), with a name filter. Per-tag and bulk actions are in `tags.js`.
struct TagsTab {
    let server: PageServer

    static let pageSize = 50

    struct Row {
        let name: String
        let digest: String
        let shortDigest: String
        let size: String
        let lastModified: TimeView
        let expiration: TimeView?
        let detailsURL: String
        let isManifestList: Bool
        let security: SecurityCell
    }

    struct Model {
        let header: RepositoryHeader
        let rows: [Row]
        let hasRows: Bool
        let filter: String
        /// Mustache treats an empty string as true: the template needs this to tell "no tags"
        /// from "no tags match".
        let hasFilter: Bool
        let page: Int
        let previousURL: String?
        let nextURL: String?
        let canWrite: Bool
        /// The hint of an empty repository: how to push to it.
        let pushCommand: String
    }

    func page(_ r: PageRequest, access: RepositoryAccess, header: RepositoryHeader) async throws -> Page {
        let repo = access.repository
        let filter = (r.query("filter") ?? "").trimmingCharacters(in: .whitespaces)
        let pageNumber = max(1, Int(r.query("page") ?? "1") ?? 1)
        let records = try await server.services.store.tagRecords(
            repositoryID: repo.id, filter: filter.isEmpty ? nil : .contains(filter), onlyActive: true,
            offset: (pageNumber - 1) * Self.pageSize, limit: Self.pageSize + 1)
        let base = RepositoryURL.page(repo.path, tab: "tags") + (filter.isEmpty ? "" : "&filter=" + PageServer.queryEscape(filter)) + "&page="
        let shown = records.prefix(Self.pageSize)
        let scans = try await server.scans.summaries(shown.map(\.digest.description))
        let rows = shown.map { t in
            let isList = MediaTypes.isIndex(t.mediaType)
            let details = Self.detailsURL(repo.path, tag: t.name)
            let security = isList ? SecurityCell(text: "See child manifests", cssClass: "scan-list", url: details)
                : SecurityCell.make(scans[t.digest.description], url: RepositoryURL.security(repo.path, digest: t.digest.description))
            return Row(name: t.name, digest: t.digest.description, shortDigest: Formatting.shortDigest(t.digest.description), size: Formatting.size(t.size),
                       lastModified: TimeView(millis: t.start), expiration: TimeView(millis: t.expiration), detailsURL: details,
                       isManifestList: isList, security: security)
        }
        let model = Model(header: header, rows: Array(rows), hasRows: !rows.isEmpty, filter: filter, hasFilter: !filter.isEmpty, page: pageNumber,
                          previousURL: pageNumber > 1 ? base + String(pageNumber - 1) : nil,
                          nextURL: records.count > Self.pageSize ? base + String(pageNumber + 1) : nil, canWrite: access.canWrite,
                          pushCommand: header.registry.podman("push", "\(header.registry.host)/\(repo.path):latest"))
        return Page(title: repo.path.description, template: "tab_tags", model: model, scripts: ["tags.js"], nav: .repositories)
    }

    static func detailsURL(_ path: RepositoryPath, tag: String) -> String {
        "/repository/" + PageServer.pathEscape(path.description) + "/tag/" + PageServer.pathEscape(tag)
    }
}
