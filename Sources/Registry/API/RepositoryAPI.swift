import Accounts
import Audit
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SlipwayCore

/// Repositories (§1.1) and stars.
///
/// | route | requirement |
/// |---|---|
/// | POST /api/v1/repository | signed in, repo:create, and create permission in the namespace |
/// | GET /api/v1/repository | anonymous (lists only what the caller may see) |
/// | GET /api/v1/repository/{repository} | repository read |
/// | PUT /api/v1/repository/{repository} | repository write |
/// | DELETE /api/v1/repository/{repository} | repository admin |
/// | POST /api/v1/repository/{repository}/changevisibility | repository admin |
/// | PUT /api/v1/repository/{repository}/changestate | repository admin |
/// | GET /api/v1/user/starred | signed in, repo:read |
/// | POST /api/v1/user/starred | signed in, repo:read (the repository must be readable) |
/// | DELETE /api/v1/repository/{repository}/star | repository read (Slipway: Quay's path cannot carry nested names) |
struct RepositoryAPI {
    let services: RegistryServices
    /// What the modules do when a repository is deleted (the build farm cancels its builds).
    let deletionObservers: [any RepositoryDeletionObserver]

    func register(_ api: APIRoutes) {
        api.add(.post, "/api/v1/repository", .user(scope: "repo:create")) { try await create($0) }
        api.add(.get, "/api/v1/repository", .anonymous) { try await list($0) }
        api.add(.get, "/api/v1/repository/{repository}", .repository(.read)) { try await get($0) }
        api.add(.put, "/api/v1/repository/{repository}", .repository(.write)) { try await update($0) }
        api.add(.delete, "/api/v1/repository/{repository}", .repository(.admin), absentRepository: .deletedForNamespaceAdmins) { try await delete($0) }
        api.add(.post, "/api/v1/repository/{repository}/changevisibility", .repository(.admin)) { try await changeVisibility($0) }
        api.add(.put, "/api/v1/repository/{repository}/changestate", .repository(.admin)) { try await changeState($0) }
        api.add(.get, "/api/v1/user/starred", .user(scope: "repo:read")) { try await starred($0) }
        api.add(.post, "/api/v1/user/starred", .user(scope: "repo:read")) { try await star($0) }
        api.add(.delete, "/api/v1/repository/{repository}/star", .repository(.read)) { try await unstar($0) }
    }

    struct CreateBody: Decodable {
        let repository: String
        let visibility: String
        let description: String?
        let namespace: String?
        let repo_kind: String?
    }

    func create(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        let body = try await r.decode(CreateBody.self)
        let namespaceName = body.namespace ?? user.name
        guard let visibility = Visibility(rawValue: body.visibility) else {
            throw APIError.invalidRequest("visibility must be 'public' or 'private'")
        }
        if let kind = body.repo_kind, kind != "image" { throw APIError.invalidRequest("repo_kind must be 'image'") }
        guard Names.isValidRepositoryName(body.repository) else {
            throw APIError.invalidRequest("Invalid repository name: use a-z, 0-9, '.', '_' and '-' (each path component starting with a letter or digit), at most 255 characters")
        }
        guard let namespace = try await services.accounts.namespace(named: namespaceName), namespace.kind != .robot else {
            throw APIError.notFound("namespace '\(namespaceName)' not found")
        }
        guard try await services.policy.canCreate(.user(user), inNamespace: namespaceName) else {
            throw APIError.insufficientScope("You do not have permission to create repositories in namespace '\(namespaceName)'")
        }
        let (repo, created) = try await services.accounts.createRepository(namespaceID: namespace.id, name: body.repository, visibility: visibility,
                                                                        description: body.description ?? "")
        guard created else { throw APIError.invalidRequest("Repository already exists") }
        try await RepositoryCreation.afterCreate(repo, namespace: namespace, creatorID: user.id, services: services)
        services.auditLog.record(.repository(.createRepo, repo, performer: r.actor, ip: r.ip))
        struct View: Encodable { let namespace: String; let name: String; let kind = "image" }
        return APIResponse.json(View(namespace: repo.namespace, name: repo.name), status: .created)
    }

    struct ListEntry: Encodable {
        let namespace: String
        let name: String
        let description: String
        let is_public: Bool
        let kind = "image"
        let state: String
        let last_modified: Int64?
        let is_starred: Bool
    }

    struct ListView: Encodable {
        let repositories: [ListEntry]
        let next_page: String?
    }

    func list(_ r: APIRequest) async throws -> Response {
        let q = r.request.uri.queryParameters
        let scope: AccountStore.RepositoryListScope
        if let ns = q["namespace"] {
            scope = .namespace(String(ns))
        } else if q["starred"] == "true" {
            guard r.caller != nil else { throw APIError.invalidToken }
            scope = .starred
        } else if q["public"] == "true" {
            scope = .publicOnly
        } else {
            throw APIError.invalidRequest("one of 'namespace', 'starred' or 'public' is required")
        }
        var after: String?
        if let token = q["next_page"] {
            guard let data = Data(base64Encoded: String(token)), let text = String(data: data, encoding: .utf8) else {
                throw APIError.invalidRequest("invalid next_page token")
            }
            after = text
        }
        let pageSize = 100
        let rows = try await services.listRepositories(scope: scope, userID: r.caller?.user.id, after: after, limit: pageSize + 1)
        let page = rows.prefix(pageSize)
        let next = rows.count > pageSize ? page.last.map { Data($0.repository.path.description.utf8).base64EncodedString() } : nil
        let entries = page.map {
            ListEntry(namespace: $0.repository.namespace, name: $0.repository.name, description: $0.description, is_public: $0.repository.isPublic,
                      state: $0.repository.state.rawValue, last_modified: $0.lastModified.map { $0 / 1000 }, is_starred: $0.isStarred)
        }
        return APIResponse.json(ListView(repositories: entries, next_page: next))
    }

    struct TagSummary: Encodable {
        let name: String
        let size: Int64
        let last_modified: String
        let expiration: String?
        let manifest_digest: String
        /// What the UI's "Fetch Tag" shows: pull by tag and by digest, for podman and docker.
        let pull_commands: PullCommands
    }

    struct PullCommands: Encodable {
        let podman_by_tag: String
        let podman_by_digest: String
        let docker_by_tag: String
        let docker_by_digest: String

        init(host: String, repository: RepositoryPath, tag: String, digest: String) {
            let ref = "\(host)/\(repository)"
            podman_by_tag = "podman pull \(ref):\(tag)"
            podman_by_digest = "podman pull \(ref)@\(digest)"
            docker_by_tag = "docker pull \(ref):\(tag)"
            docker_by_digest = "docker pull \(ref)@\(digest)"
        }
    }

    struct RepositoryView: Encodable {
        let namespace: String
        let name: String
        let kind = "image"
        let description: String
        let is_public: Bool
        let is_organization: Bool
        let is_starred: Bool
        let status_token = ""
        let trust_enabled = false
        let tag_expiration_s: Int64
        let is_free_account = true
        let state: String
        let tags: [String: TagSummary]?
        let can_write: Bool
        let can_admin: Bool
    }

    func get(_ r: APIRequest) async throws -> Response {
        let repo = r.repository!
        let includeTags = r.request.uri.queryParameters["includeTags"] != "false"
        var tags: [String: TagSummary]?
        let host = RequestOrigin(request: r.request, config: services.config).service
        if includeTags {
            let records = try await services.store.tagRecords(repositoryID: repo.id, filter: nil, onlyActive: true, offset: 0, limit: 500)
            tags = Dictionary(records.map { t in
                (t.name, TagSummary(name: t.name, size: t.size, last_modified: APIDates.rfc2822(millis: t.start),
                                    expiration: t.expiration.map { APIDates.rfc2822(millis: $0) }, manifest_digest: t.digest.description,
                                    pull_commands: PullCommands(host: host, repository: repo.path, tag: t.name, digest: t.digest.description)))
            }, uniquingKeysWith: { a, _ in a })
        }
        let namespace = try await services.accounts.namespace(id: repo.namespaceID)
        var starred = false
        if let caller = r.caller { starred = try await services.accounts.isStarred(userID: caller.user.id, repositoryID: repo.id) }
        let view = RepositoryView(
            namespace: repo.namespace, name: repo.name, description: try await services.accounts.repositoryDescription(id: repo.id),
            is_public: repo.isPublic, is_organization: namespace?.kind == .organization, is_starred: starred,
            tag_expiration_s: try await services.store.timeMachineSeconds(namespaceID: repo.namespaceID), state: repo.state.rawValue,
            tags: tags, can_write: (r.role ?? .read) >= .write && r.role != nil, can_admin: r.role == .admin)
        return APIResponse.json(view)
    }

    struct DescriptionBody: Decodable { let description: String }

    func update(_ r: APIRequest) async throws -> Response {
        let body = try await r.decode(DescriptionBody.self)
        guard body.description.utf8.count <= 64 * 1024 else { throw APIError.invalidRequest("description is limited to 64 KiB") }
        try await services.accounts.setDescription(repositoryID: r.repository!.id, body.description)
        services.auditLog.record(.repository(.setRepoDescription, r.repository!, performer: r.actor, ip: r.ip))
        return APIResponse.json(["success": true])
    }

    func delete(_ r: APIRequest) async throws -> Response {
        let repo = r.repository!
        try await services.accounts.markForDeletion(repositoryID: repo.id)
        services.auditLog.record(.repository(.deleteRepo, repo, performer: r.actor, ip: r.ip))
        for observer in deletionObservers { await observer.repositoryDeleted(repo) }
        return APIResponse.noContent()
    }

    struct VisibilityBody: Decodable { let visibility: String }

    func changeVisibility(_ r: APIRequest) async throws -> Response {
        let body = try await r.decode(VisibilityBody.self)
        guard let visibility = Visibility(rawValue: body.visibility) else { throw APIError.invalidRequest("visibility must be 'public' or 'private'") }
        try await services.accounts.setVisibility(repositoryID: r.repository!.id, visibility)
        services.auditLog.record(.repository(.changeRepoVisibility, r.repository!, performer: r.actor, ip: r.ip, ["visibility": visibility.rawValue]))
        return APIResponse.json(["success": true])
    }

    struct StateBody: Decodable { let state: String }

    func changeState(_ r: APIRequest) async throws -> Response {
        let body = try await r.decode(StateBody.self)
        guard let state = RepositoryState(rawValue: body.state), state != .markedForDeletion else {
            if body.state == "MIRROR" { throw APIError.invalidRequest("repository mirroring is not supported by Slipway") }
            throw APIError.invalidRequest("state must be NORMAL or READ_ONLY")
        }
        try await services.accounts.setState(repositoryID: r.repository!.id, state)
        services.auditLog.record(.repository(.changeRepoState, r.repository!, performer: r.actor, ip: r.ip, ["state": state.rawValue]))
        return APIResponse.json(["success": true])
    }

    func starred(_ r: APIRequest) async throws -> Response {
        let rows = try await services.listRepositories(scope: .starred, userID: try r.user.id, after: nil, limit: 1000)
        let entries = rows.map {
            ListEntry(namespace: $0.repository.namespace, name: $0.repository.name, description: $0.description, is_public: $0.repository.isPublic,
                      state: $0.repository.state.rawValue, last_modified: $0.lastModified.map { $0 / 1000 }, is_starred: true)
        }
        return APIResponse.json(ListView(repositories: entries, next_page: nil))
    }

    struct StarBody: Decodable { let namespace: String; let repository: String }

    func star(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        let body = try await r.decode(StarBody.self)
        guard let path = try? RepositoryPath(parsing: "\(body.namespace)/\(body.repository)"),
              let repo = try await services.accounts.repository(path), repo.state != .markedForDeletion,
              try await services.policy.canRead(.user(user), repo) else {
            throw APIError.notFound("repository not found")
        }
        try await services.accounts.setStar(userID: user.id, repositoryID: repo.id, starred: true)
        struct View: Encodable { let namespace: String; let repository: String }
        return APIResponse.json(View(namespace: repo.namespace, repository: repo.name), status: .created)
    }

    func unstar(_ r: APIRequest) async throws -> Response {
        try await services.accounts.setStar(userID: try r.user.id, repositoryID: r.repository!.id, starred: false)
        return APIResponse.noContent()
    }
}

/// What happens after a repository comes into existence, whichever way (API or push): the
/// creator of an org repository gets admin, and the org's default permissions apply.
enum RepositoryCreation {
    static func afterCreate(_ repo: Repository, namespace: Namespace, creatorID: Int64?, services: RegistryServices) async throws {
        guard namespace.kind == .organization, let creatorID else { return }
        try await services.accounts.setPermission(repositoryID: repo.id, userID: creatorID, role: .admin)
        try await services.accounts.applyPrototypes(repository: repo, creatorID: creatorID)
    }
}
