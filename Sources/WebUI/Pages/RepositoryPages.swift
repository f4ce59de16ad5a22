import Accounts
import BuildOrchestrator
import Hummingbird
import Registry
import SlipwayCore

/// Everything under `/repository/<namespace>/<name>`: the tabbed repository page, build pages
/// (`.../build/<uuid>`), tag details (`.../tag/<tag>`) and Security Scanner pages (`.../manifest/<digest>`). The path is read from the right and
/// the reading that names an existing repository wins (see `RepositoryURL`).
struct RepositoryPages {
    let server: PageServer

    func register(_ router: Router<SlipwayRequestContext>) {
        server.get(router, "/repository/**") { r in try await dispatch(r) }
    }

    /// The first reading whose repository exists and, for build and tag pages, whose build or
    /// tag exists in it; else the first reading naming an existing repository (its page then
    /// answers "not found" for the missing build or tag).
    func choose(_ candidates: [RepositoryURL]) async throws -> RepositoryURL {
        let store = server.services.store
        let accounts = server.services.accounts
        var fallback: RepositoryURL?
        for candidate in candidates {
            guard let repo = try await accounts.repository(candidate.path) else { continue }
            switch candidate {
            case .repository: return candidate
            case .build(_, let uuid):
                if let b = try await server.builds.build(uuid: uuid), b.repositoryID == repo.id { return candidate }
            case .manifest(_, let digest):
                if let parsed = try? Digest(parsing: digest), try await store.manifest(repositoryID: repo.id, digest: parsed) != nil {
                    return candidate
                }
            case .tag(_, let tag):
                if Names.isValidTag(tag),
                   try await !store.tagRecords(repositoryID: repo.id, filter: .equals(tag), onlyActive: true, offset: 0, limit: 1).isEmpty {
                    return candidate
                }
            }
            if fallback == nil { fallback = candidate }
        }
        return fallback ?? candidates.last!
    }

    func dispatch(_ r: PageRequest) async throws -> Page {
        let raw = String(r.request.uri.path.dropFirst("/repository/".count))
        let candidates = RepositoryURL.candidates(raw.removingPercentEncoding ?? raw)
        guard !candidates.isEmpty else { throw PageExit.notFound }
        let chosen = try await choose(candidates)
        let access = try await RepositoryAccess.resolve(chosen.path, viewer: r.viewer, services: server.services)
        switch chosen {
        case .build(_, let uuid):
            return try await BuildPage(server: server).page(r, access: access, uuid: uuid)
        case .tag(_, let tag):
            return try await TagDetailsPage(server: server).page(r, access: access, tag: tag)
        case .manifest(_, let digest):
            return try await SecurityPage(server: server).page(r, access: access, digest: digest)
        case .repository:
            let header = try await RepositoryHeader.make(access, tab: r.query("tab") ?? "tags", request: r, services: server.services)
            switch header.tab {
            case "history": return try await HistoryTab(server: server).page(r, access: access, header: header)
            case "builds": return try await BuildsTab(server: server).page(r, access: access, header: header)
            case "settings":
                try access.require(.admin, viewer: r.viewer)
                return try await SettingsTab(server: server).page(r, access: access, header: header)
            case "logs":
                try access.require(.admin, viewer: r.viewer)
                return try await LogsTab(server: server).page(r, access: access, header: header)
            default: return try await TagsTab(server: server).page(r, access: access, header: header)
            }
        }
    }
}

/// The part every repository tab shares: name, visibility, description, the tab bar, and the
/// data attributes the scripts read (`#repo[data-repository]`).
struct RepositoryHeader: Sendable {
    struct Tab: Sendable {
        let name: String
        let label: String
        let url: String
        let current: Bool
    }

    let path: String
    let namespace: String
    let name: String
    let url: String
    let isPublic: Bool
    let description: String
    let state: String
    let isReadOnlyState: Bool
    let canWrite: Bool
    let canAdmin: Bool
    /// Registry host for pull commands (`RegistryAddress`); `plainHTTP` tells `tags.js` to add
    /// `--tls-verify=false` to the podman commands it builds.
    let host: String
    let plainHTTP: Bool
    let registry: RegistryAddress
    let tab: String
    let tabs: [Tab]

    static func make(_ access: RepositoryAccess, tab requested: String, request: PageRequest, services: RegistryServices) async throws -> RepositoryHeader {
        let repo = access.repository
        let registry = RegistryAddress(request: request.request, config: services.config)
        var names: [(String, String)] = [("tags", "Tags"), ("history", "Tag history"), ("builds", "Builds")]
        if access.canAdmin { names += [("settings", "Settings"), ("logs", "Logs")] }
        let tab = names.contains { $0.0 == requested } || ["settings", "logs"].contains(requested) ? requested : "tags"
        return RepositoryHeader(
            path: repo.path.description, namespace: repo.namespace, name: repo.name, url: RepositoryURL.page(repo.path), isPublic: repo.isPublic,
            description: try await services.accounts.repositoryDescription(id: repo.id), state: repo.state.rawValue,
            isReadOnlyState: repo.state == .readOnly, canWrite: access.canWrite, canAdmin: access.canAdmin,
            host: registry.host, plainHTTP: registry.plainHTTP, registry: registry, tab: tab,
            tabs: names.map { Tab(name: $0.0, label: $0.1, url: RepositoryURL.page(repo.path, tab: $0.0), current: $0.0 == tab) })
    }
}
