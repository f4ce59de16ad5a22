import Accounts
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import SlipwayCore

/// Direct repository permissions of users, robots and teams (quay-reference §1.8). Every route
/// needs admin on the repository (`R` = `/api/v1/repository/{repository}`):
/// - GET    R/permissions/user/                         every direct user and robot grant
/// - GET    R/permissions/user/{username}               one grant
/// - PUT    R/permissions/user/{username}               `{role}` read|write|admin
/// - DELETE R/permissions/user/{username}               204
/// - GET    R/permissions/user/{username}/transitive    direct and team-derived grants
/// - GET    R/permissions/team/                         every team grant
/// - GET    R/permissions/team/{teamname}               one team grant
/// - PUT    R/permissions/team/{teamname}               `{role}`; the team must be in the repository's organization
/// - DELETE R/permissions/team/{teamname}               204
///
/// Missing grants and bad targets are 400s with Quay's messages, as Quay's data-model errors are.
struct PermissionAPI {
    let services: RegistryServices

    static let base = APIRoutes.repositoryPrefix + "/permissions"

    func register(_ api: APIRoutes) {
        let admin = APIRequirement.repository(.admin)
        api.add(.get, Self.base + "/user/", admin) { try await listUsers($0) }
        api.add(.get, Self.base + "/user/{username}", admin) { try await getUser($0) }
        api.add(.put, Self.base + "/user/{username}", admin) { try await putUser($0) }
        api.add(.delete, Self.base + "/user/{username}", admin) { try await deleteUser($0) }
        api.add(.get, Self.base + "/user/{username}/transitive", admin) { try await transitive($0) }
        api.add(.get, Self.base + "/team/", admin) { try await listTeams($0) }
        api.add(.get, Self.base + "/team/{teamname}", admin) { try await getTeam($0) }
        api.add(.put, Self.base + "/team/{teamname}", admin) { try await putTeam($0) }
        api.add(.delete, Self.base + "/team/{teamname}", admin) { try await deleteTeam($0) }
    }

    // MARK: Views

    struct UserPermissionView: Encodable {
        let role: String
        let name: String
        let is_robot: Bool
        let avatar: Avatar
        /// Only for repositories of an organization, as Quay.
        let is_org_member: Bool?
    }

    struct TeamPermissionView: Encodable {
        let role: String
        let name: String
        let avatar: Avatar
    }

    struct RoleView: Encodable { let role: String }

    struct SetRole: Decodable {
        let role: String
    }

    // MARK: Users and robots

    func listUsers(_ r: APIRequest) async throws -> Response {
        let repo = try Self.repository(r)
        let grants = try await services.accounts.repositoryUserGrants(repositoryID: repo.id)
        let isOrg = try await isOrganization(repo)
        let members = isOrg ? try await services.accounts.organizationMembers(organizationID: repo.namespaceID, among: grants.map(\.0.id)) : []
        var out: [String: UserPermissionView] = [:]
        for (who, role) in grants {
            out[who.name] = view(who, role: role, isOrg: isOrg, isMember: who.kind == .robot || members.contains(who.id))
        }
        return APIResponse.json(["permissions": out])
    }

    func getUser(_ r: APIRequest) async throws -> Response {
        let repo = try Self.repository(r)
        guard let who = try await target(r), let role = try await services.accounts.repositoryUserGrant(repositoryID: repo.id, userID: who.id) else {
            throw APIError.invalidRequest("User does not have permission for repo.")
        }
        return APIResponse.json(try await view(who, role: role, in: repo))
    }

    func putUser(_ r: APIRequest) async throws -> Response {
        let repo = try Self.repository(r)
        let username = r.parameter("username")
        let role = try await Self.decodeRole(r, allowed: "['read', 'write', 'admin']")
        if username == repo.namespace { throw APIError.invalidRequest("Namespace owner must always be admin.") }
        guard let who = try await target(r) else {
            throw APIError.invalidRequest("Invalid username: \(username.prefix(300))")
        }
        if who.kind == .robot, !who.name.hasPrefix(repo.namespace + "+") {
            throw APIError.invalidRequest("Cannot add robot \(who.name) under namespace \(repo.namespace)")
        }
        try await services.accounts.setPermission(repositoryID: repo.id, userID: who.id, role: role)
        return APIResponse.json(try await view(who, role: role, in: repo))
    }

    func deleteUser(_ r: APIRequest) async throws -> Response {
        let repo = try Self.repository(r)
        if r.parameter("username") == repo.namespace { throw APIError.invalidRequest("Namespace owner must always be admin.") }
        guard let who = try await target(r), try await services.accounts.deleteRepositoryUserGrant(repositoryID: repo.id, userID: who.id) else {
            throw APIError.invalidRequest("User does not have permission for repo.")
        }
        return APIResponse.noContent()
    }

    func transitive(_ r: APIRequest) async throws -> Response {
        let repo = try Self.repository(r)
        guard let who = try await target(r) else { throw APIError.notFound() }
        let roles = try await services.accounts.grantedRoles(userID: who.id, repositoryID: repo.id)
        guard !roles.isEmpty else { throw APIError.notFound() }
        return APIResponse.json(["permissions": roles.map { RoleView(role: $0.rawValue) }])
    }

    /// The user or robot named in the path (organizations hold no grants).
    func target(_ r: APIRequest) async throws -> Namespace? {
        let name = r.parameter("username")
        guard name.utf8.count <= 600, let ns = try await services.accounts.namespace(named: name), ns.kind != .organization else { return nil }
        return ns
    }

    func view(_ who: Namespace, role: Role, in repo: Repository) async throws -> UserPermissionView {
        let isOrg = try await isOrganization(repo)
        var isMember = false
        if isOrg {
            isMember = who.kind == .robot
            if !isMember {
                isMember = !(try await services.accounts.organizationMembers(organizationID: repo.namespaceID, among: [who.id]).isEmpty)
            }
        }
        return view(who, role: role, isOrg: isOrg, isMember: isMember)
    }

    func view(_ who: Namespace, role: Role, isOrg: Bool, isMember: Bool) -> UserPermissionView {
        let isRobot = who.kind == .robot
        return UserPermissionView(role: role.rawValue, name: who.name, is_robot: isRobot,
                                  avatar: .user(who), is_org_member: isOrg ? isMember : nil)
    }

    func isOrganization(_ repo: Repository) async throws -> Bool {
        try await services.accounts.namespace(id: repo.namespaceID)?.kind == .organization
    }

    // MARK: Teams

    func listTeams(_ r: APIRequest) async throws -> Response {
        let repo = try Self.repository(r)
        var out: [String: TeamPermissionView] = [:]
        for (team, role) in try await services.accounts.repositoryTeamGrants(repositoryID: repo.id) {
            out[team] = TeamPermissionView(role: role.rawValue, name: team, avatar: .team(team))
        }
        return APIResponse.json(["permissions": out])
    }

    func getTeam(_ r: APIRequest) async throws -> Response {
        let repo = try Self.repository(r)
        guard let role = try await services.accounts.repositoryTeamGrant(repositoryID: repo.id, namespaceID: repo.namespaceID,
                                                                      team: r.parameter("teamname")) else {
            throw APIError.invalidRequest("Team does not have permission for repo.")
        }
        return APIResponse.json(RoleView(role: role.rawValue))
    }

    func putTeam(_ r: APIRequest) async throws -> Response {
        let repo = try Self.repository(r)
        let name = r.parameter("teamname")
        let role = try await Self.decodeRole(r, allowed: "['read', 'write', 'admin']")
        guard let teamID = try await services.accounts.teamIDForGrants(organizationID: repo.namespaceID, name: name) else {
            throw APIError.invalidRequest("No team \(name.prefix(300)) in organization \(repo.namespace)")
        }
        try await services.accounts.setTeamPermission(repositoryID: repo.id, teamID: teamID, role: role)
        return APIResponse.json(TeamPermissionView(role: role.rawValue, name: name, avatar: .team(name)))
    }

    func deleteTeam(_ r: APIRequest) async throws -> Response {
        let repo = try Self.repository(r)
        guard let teamID = try await services.accounts.teamIDForGrants(organizationID: repo.namespaceID, name: r.parameter("teamname")),
              try await services.accounts.deleteRepositoryTeamGrant(repositoryID: repo.id, teamID: teamID) else {
            throw APIError.invalidRequest("Team does not have permission for repo.")
        }
        return APIResponse.noContent()
    }

    // MARK: Helpers

    static func repository(_ r: APIRequest) throws -> Repository {
        guard let repo = r.repository else { throw APIError.notFound("repository not found") }
        return repo
    }

    static func decodeRole(_ r: APIRequest, allowed: String) async throws -> Role {
        let input = try await r.decode(SetRole.self)
        guard let role = Role(rawValue: input.role) else {
            throw APIError.invalidRequest("'\(input.role.prefix(100))' is not one of \(allowed)")
        }
        return role
    }
}
