import Accounts
import Hummingbird
import Registry

/// `/repository/`: the viewer's repositories (their own namespace, their organizations', and
/// repositories of others shared with them),
/// filterable by namespace, with Create Repository and bulk delete ("type confirm"). Both
/// changes are made by `repo-list.js` through `/api/v1/repository`.
struct RepositoryListPage {
    let server: PageServer

    static let pageSize = 50

    struct Row {
        let path: String
        let namespace: String
        let name: String
        let url: String
        let isPublic: Bool
        let description: String
        let lastModified: TimeView?
        let canAdmin: Bool
    }

    struct NamespaceOption {
        let name: String
        let selected: Bool
        let canCreate: Bool
    }

    struct Model {
        let namespaces: [NamespaceOption]
        let creatableNamespaces: [NamespaceOption]
        let filter: String?
        let rows: [Row]
        let hasRows: Bool
        let nextURL: String?
        let firstURL: String?
        /// Right after a first single sign-on: the offer of an app token for registry logins.
        let welcomeSSO: Bool
        /// Right after a self sign-up that must confirm its address.
        let welcomeVerify: Bool
        let tokensURL: String
    }

    func register(_ router: Router<SlipwayRequestContext>) {
        server.get(router, "/repository/") { r in try await page(r) }
    }

    func page(_ r: PageRequest) async throws -> Page {
        let user = try r.requireUser()
        let accounts = server.services.accounts
        let policy = server.services.policy
        let all = [user.name] + (try await accounts.organizations(ofUser: user.id)).map(\.name)
        let filter = r.query("namespace").flatMap { $0.isEmpty ? nil : $0 }
        // Listing another namespace shows what the viewer may see there (public repositories and grants).
        let scanned = filter.map { [$0] } ?? all
        let after = r.query("after")
        var merged: [AccountStore.RepositoryListing] = []
        for ns in scanned {
            merged += try await server.services.listRepositories(scope: .namespace(ns), userID: user.id, after: after, limit: Self.pageSize + 1)
        }
        if filter == nil {
            // Plus what others shared with the viewer (a grant to them or to one of their teams).
            let shared = try await server.services.listRepositories(scope: .sharedWith, userID: user.id, after: after, limit: Self.pageSize + 1)
            let seen = Set(merged.map(\.repository.id))
            merged += shared.filter { !seen.contains($0.repository.id) }
        }
        merged.sort { $0.repository.path.description < $1.repository.path.description }
        let shown = Array(merged.prefix(Self.pageSize))
        var rows: [Row] = []
        for listing in shown {
            let repo = listing.repository
            let role = try await policy.role(r.viewer.identity, on: repo)
            rows.append(Row(path: repo.path.description, namespace: repo.namespace, name: repo.name, url: RepositoryURL.page(repo.path),
                            isPublic: repo.isPublic, description: listing.description, lastModified: TimeView(millis: listing.lastModified),
                            canAdmin: role == .admin))
        }
        let base = "/repository/" + (filter.map { "?namespace=" + PageServer.queryEscape($0) + "&" } ?? "?")
        let next = merged.count > Self.pageSize ? shown.last.map { base + "after=" + PageServer.queryEscape($0.repository.path.description) } : nil
        var options: [NamespaceOption] = []
        for ns in all {
            options.append(NamespaceOption(name: ns, selected: ns == filter, canCreate: try await policy.canCreate(r.viewer.identity, inNamespace: ns)))
        }
        let model = Model(namespaces: options, creatableNamespaces: options.filter(\.canCreate), filter: filter, rows: rows, hasRows: !rows.isEmpty,
                          nextURL: next, firstURL: after == nil ? nil : String(base.dropLast()),
                          welcomeSSO: r.query("welcome") == "sso", welcomeVerify: r.query("welcome") == "verify",
                          tokensURL: UserPage.url(user.name, tab: "tokens"))
        return Page(title: "Repositories", template: "repository_list", model: model, scripts: ["repo-list.js"], nav: .repositories)
    }
}
