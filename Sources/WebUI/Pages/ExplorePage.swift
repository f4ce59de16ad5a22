import Accounts
import Hummingbird
import Registry

/// `/explore?q=`: public repositories, searchable by name and description.
struct ExplorePage {
    let server: PageServer

    static let pageSize = 50
    /// Search filters public repositories page by page; this bounds the rows one request reads.
    static let scanLimit = 20_000

    struct Entry {
        let namespace: String
        let name: String
        let description: String
        let url: String
        let lastModified: String?
    }

    struct Model {
        let query: String
        let repositories: [Entry]
        let hasRepositories: Bool
        let nextURL: String?
    }

    func register(_ router: Router<SlipwayRequestContext>) {
        server.get(router, "/explore") { r in try await page(r) }
    }

    func page(_ r: PageRequest) async throws -> Page {
        let query = (r.query("q") ?? "").trimmingCharacters(in: .whitespaces)
        let needle = query.lowercased()
        var cursor = r.query("after")
        var found: [AccountStore.RepositoryListing] = []
        var scanned = 0
        scan: while scanned < Self.scanLimit {
            let batch = try await server.services.listRepositories(scope: .publicOnly, userID: r.viewer.user?.id, after: cursor, limit: 500)
            for listing in batch {
                cursor = listing.repository.path.description
                if needle.isEmpty || listing.repository.path.description.contains(needle) || listing.description.lowercased().contains(needle) {
                    found.append(listing)
                    if found.count > Self.pageSize { break scan }
                }
            }
            scanned += batch.count
            if batch.count < 500 { break }
        }
        let shown = found.prefix(Self.pageSize)
        var next: String?
        if found.count > Self.pageSize, let last = shown.last {
            next = "/explore?q=\(PageServer.queryEscape(query))&after=\(PageServer.queryEscape(last.repository.path.description))"
        }
        let entries = shown.map {
            Entry(namespace: $0.repository.namespace, name: $0.repository.name, description: $0.description,
                  url: "/repository/" + PageServer.pathEscape($0.repository.path.description), lastModified: $0.lastModified.map(Formatting.time(millis:)))
        }
        return Page(title: "Explore", template: "explore",
                    model: Model(query: query, repositories: entries, hasRepositories: !entries.isEmpty, nextURL: next), nav: .explore)
    }
}
