import Accounts
import Foundation
import Hummingbird

/// Quay's lookups (`endpoints/api/search.py`): entity completion for permission dialogs and
/// repository search.
///
/// - GET /api/v1/entities/{prefix}?namespace=&includeTeams=&includeOrgs=   signed in, user:read
/// - GET /api/v1/find/repositories?query=&page=                           anonymous (what the caller may read)
struct LookupAPI {
    let services: RegistryServices

    static let entityLimit = 20
    static let pageSize = 10

    func register(_ api: APIRoutes) {
        api.add(.get, "/api/v1/entities/{prefix}", .user(scope: "user:read")) { try await entities($0) }
        api.add(.get, "/api/v1/find/repositories", .anonymous) { try await findRepositories($0) }
    }

    /// One result, in Quay's `entity_view` shape. Robots are `kind: user` with `is_robot`, as Quay sends them.
    struct Entity: Encodable {
        let name: String
        let kind: String
        let is_robot: Bool?
        let is_org_member: Bool?
        let avatar: Avatar
    }

    func entities(_ r: APIRequest) async throws -> Response {
        let caller = try r.user
        let query = r.request.uri.queryParameters
        let prefix = r.parameter("prefix").lowercased()
        let includeTeams = query["includeTeams"].map { $0 == "true" } ?? false
        let includeOrgs = query["includeOrgs"].map { $0 == "true" } ?? false
        let accounts = services.accounts
        // The namespace whose teams and robots may be listed: the caller's own, or an
        // organization the caller belongs to (teams) or administers (robots).
        var organization: Namespace?
        var memberRole: TeamRole?
        if let name = query["namespace"].map(String.init), !name.isEmpty, let ns = try await accounts.namespace(named: name), ns.kind == .organization {
            organization = ns
            memberRole = try await services.policy.organizationRole(.user(caller), organizationID: ns.id)
        }
        var results: [Entity] = []
        // `ns+bot` names a robot of `ns`; otherwise robots of the namespace in question.
        let robotOwner: Namespace? = memberRole == .admin ? organization : (query["namespace"].map(String.init) == caller.name || query["namespace"] == nil ? caller : nil)
        if let owner = robotOwner {
            let robotPrefix = prefix.contains("+") ? prefix : "\(owner.name)+\(prefix)"
            if robotPrefix.hasPrefix("\(owner.name)+") {
                for robot in try await accounts.namespaces(kind: .robot, prefix: robotPrefix, limit: Self.entityLimit) {
                    results.append(Entity(name: robot.name, kind: "user", is_robot: true, is_org_member: organization == nil ? nil : true, avatar: .user(robot)))
                }
            }
        }
        if !prefix.contains("+") {
            let users = try await accounts.namespaces(kind: .user, prefix: prefix, limit: Self.entityLimit)
            var members: Set<Int64>?
            if let org = organization { members = try await accounts.organizationMembers(organizationID: org.id, among: users.map(\.id)) }
            for user in users {
                results.append(Entity(name: user.name, kind: "user", is_robot: false, is_org_member: members.map { $0.contains(user.id) },
                                      avatar: .user(user)))
            }
            if includeTeams, let org = organization, memberRole != nil {
                for team in try await accounts.teams(organizationID: org.id, prefix: prefix, limit: Self.entityLimit) {
                    results.append(Entity(name: team, kind: "team", is_robot: nil, is_org_member: nil, avatar: .team(team)))
                }
            }
            if includeOrgs {
                for org in try await accounts.namespaces(kind: .organization, prefix: prefix, limit: Self.entityLimit) {
                    results.append(Entity(name: org.name, kind: "org", is_robot: nil, is_org_member: nil, avatar: .organization(org.name, email: org.email)))
                }
            }
        }
        return APIResponse.json(["results": results])
    }

    struct RepositoryResult: Encodable {
        struct NamespaceRef: Encodable { let title: String; let kind: String; let avatar: Avatar; let name: String; let score: Int = 1; let href: String }
        let kind = "repository"
        let title: String
        let namespace: NamespaceRef
        let name: String
        let description: String
        let is_public: Bool
        let score = 1
        let href: String
    }

    struct FindResults: Encodable {
        let results: [RepositoryResult]
        let has_additional: Bool
        let page: Int
        let page_size: Int
        let start_index: Int
    }

    func findRepositories(_ r: APIRequest) async throws -> Response {
        let query = r.request.uri.queryParameters
        let text = query["query"].map(String.init) ?? ""
        guard text.count <= 255 else { throw APIError.invalidRequest("'query' is limited to 255 characters") }
        let page = try Self.page(query["page"].map(String.init))
        let start = (page - 1) * Self.pageSize
        var hits: [RepositorySearchHit] = []
        if !text.isEmpty {
            hits = try await services.accounts.searchRepositories(userID: r.caller?.user.id, query: text, offset: start, limit: Self.pageSize + 1)
        }
        let results = hits.prefix(Self.pageSize).map { hit in
            let repo = hit.repository
            let isOrg = hit.namespaceKind == .organization
            return RepositoryResult(
                title: repo.name,
                namespace: .init(title: repo.namespace, kind: isOrg ? "org" : "user",
                                 avatar: isOrg ? .organization(repo.namespace, email: nil) : Avatar(name: repo.namespace, emailOrID: nil, kind: "user"),
                                 name: repo.namespace, href: isOrg ? "/organization/\(repo.namespace)" : "/user/\(repo.namespace)"),
                name: repo.name, description: hit.description, is_public: repo.isPublic, href: "/repository/\(repo.namespace)/\(repo.name)")
        }
        return APIResponse.json(FindResults(results: Array(results), has_additional: hits.count > Self.pageSize, page: page,
                                            page_size: Self.pageSize, start_index: start))
    }

    /// A 1-based page number, at most 1000.
    static func page(_ text: String?) throws(APIError) -> Int {
        guard let text else { return 1 }
        guard let n = Int(text), n >= 1, n <= 1000 else { throw APIError.invalidRequest("'page' must be a number from 1 to 1000") }
        return n
    }
}
