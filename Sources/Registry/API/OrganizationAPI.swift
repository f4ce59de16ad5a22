import Accounts
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import SlipwayCore

/// Organizations (Quay `endpoints/api/organization.py`): creation, the organization view,
/// settings, deletion, members and outside collaborators. `register` also installs the team
/// (`TeamAPI`) and default-permission (`PrototypeAPI`) resources, which live under the same
/// `/organization/{orgname}` prefix.
///
/// Routes and the permission each needs (enforced by `APIRoutes`):
/// - POST   /api/v1/organization/                              signed in, user:admin
/// - GET    /api/v1/organization/{orgname}                     signed in, user:read (members also see teams)
/// - PUT    /api/v1/organization/{orgname}                     organization admin
/// - DELETE /api/v1/organization/{orgname}                     organization admin
/// - GET    /api/v1/organization/{orgname}/members             organization admin
/// - GET    /api/v1/organization/{orgname}/members/{membername} organization admin
/// - DELETE /api/v1/organization/{orgname}/members/{membername} organization admin
/// - GET    /api/v1/organization/{orgname}/collaborators       organization admin
struct OrganizationAPI {
    let services: RegistryServices
    /// Handed to the team API: who shows invitations to their invitees.
    let inviteNotices: [any TeamInviteNotices]

    /// Quay's time-machine choices (`TAG_EXPIRATION_OPTIONS` 0s, 1d, 1w, 2w, 4w) in seconds.
    static let tagExpirationChoices: [Int64] = [0, 86_400, 604_800, 1_209_600, 2_419_200]

    func register(_ api: APIRoutes) {
        api.add(.post, "/api/v1/organization/", .user(scope: "user:admin")) { try await create($0) }
        api.add(.get, "/api/v1/organization/{orgname}", .user(scope: "user:read")) { try await organization($0) }
        api.add(.put, "/api/v1/organization/{orgname}", .organizationAdmin) { try await update($0) }
        api.add(.delete, "/api/v1/organization/{orgname}", .organizationAdmin) { try await delete($0) }
        api.add(.get, "/api/v1/organization/{orgname}/members", .organizationAdmin) { try await members($0) }
        api.add(.get, "/api/v1/organization/{orgname}/members/{membername}", .organizationAdmin) { try await member($0) }
        api.add(.delete, "/api/v1/organization/{orgname}/members/{membername}", .organizationAdmin) { try await removeMember($0) }
        api.add(.get, "/api/v1/organization/{orgname}/collaborators", .organizationAdmin) { try await collaborators($0) }
        TeamAPI(services: services, inviteNotices: inviteNotices).register(api)
        TeamSyncAPI(services: services).register(api)
        PrototypeAPI(services: services).register(api)
    }

    // MARK: Create and view

    struct CreateOrganization: Decodable {
        let name: String
        let email: String?
    }

    func create(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        let input = try await r.decode(CreateOrganization.self)
        guard Names.isValidNamespace(input.name) else {
            throw APIError.invalidRequest("Invalid organization name: use 2-255 characters of a-z, 0-9 and single '.', '_' or '-' between them")
        }
        if let email = input.email, !Self.isPlausibleEmail(email) {
            throw APIError.invalidRequest("Invalid e-mail address")
        }
        do {
            try await services.accounts.createOrganization(name: input.name, email: input.email, creatorID: user.id)
        } catch let e as DomainError where e.code == .alreadyExists {
            throw APIError.invalidRequest("A user or organization with this name already exists")
        }
        return APIResponse.message("Created", status: .created)
    }

    struct TeamView: Encodable {
        let name: String
        let description: String
        let role: String
        let avatar: Avatar
        let can_view: Bool
        let repo_count: Int64
        let member_count: Int64
        /// Bound to a provider group (team sync); membership follows sign-ins.
        let is_synced: Bool
    }

    struct OrganizationView: Encodable {
        let name: String
        /// Only admins see the address (Quay sends "" to others).
        let email: String
        let avatar: Avatar
        let is_admin: Bool
        let is_member: Bool
        let teams: [String: TeamView]?
        let ordered_teams: [String]?
        let tag_expiration_s: Int64?
    }

    func organization(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        guard let org = try await services.accounts.namespace(named: r.parameter("orgname")), org.kind == .organization else {
            throw APIError.notFound("organization not found")
        }
        return APIResponse.json(try await view(of: org, for: user))
    }

    /// The organization as `user` may see it: non-members get the name and avatar only.
    func view(of org: Namespace, for user: Namespace) async throws -> OrganizationView {
        let accounts = services.accounts
        let role = try await accounts.teamRole(userID: user.id, organizationID: org.id)
        let isAdmin = role == .admin
        let settings = try await accounts.organizationSettings(id: org.id)
        var teams: [String: TeamView]?
        var ordered: [String]?
        if role != nil {
            let mine = Set(try await accounts.orgTeams(ofAccount: user.id, organizationID: org.id).map(\.id))
            let summaries = try await accounts.orgTeamSummaries(organizationID: org.id)
            let synced = try await accounts.syncedTeamIDs(organizationID: org.id)
            ordered = summaries.map(\.team.name)
            teams = Dictionary(uniqueKeysWithValues: summaries.map { s in
                (s.team.name, TeamView(name: s.team.name, description: s.team.description, role: s.team.role.rawValue,
                                       avatar: .team(s.team.name), can_view: isAdmin || mine.contains(s.team.id),
                                       repo_count: s.repositoryCount, member_count: s.memberCount, is_synced: synced.contains(s.team.id)))
            })
        }
        return OrganizationView(name: org.name, email: isAdmin ? (settings?.email ?? "") : "",
                                avatar: .organization(org.name, email: settings?.email), is_admin: isAdmin, is_member: role != nil,
                                teams: teams, ordered_teams: ordered, tag_expiration_s: isAdmin ? settings?.tagExpirationSeconds : nil)
    }

    // MARK: Settings and deletion

    struct UpdateOrganization: Decodable {
        let email: String?
        let tag_expiration_s: Int64?
    }

    func update(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        let org = try Self.organization(of: r)
        let input = try await r.decode(UpdateOrganization.self)
        var newEmail: String?
        if let email = input.email, email != org.email {
            guard Self.isPlausibleEmail(email) else { throw APIError.invalidRequest("Invalid e-mail address") }
            if try await services.accounts.emailInUse(email, excluding: org.id) {
                throw APIError.invalidRequest("E-mail address already used")
            }
            newEmail = email
        }
        if let seconds = input.tag_expiration_s, !Self.tagExpirationChoices.contains(seconds) {
            let choices = Self.tagExpirationChoices.map(String.init).joined(separator: ", ")
            throw APIError.invalidRequest("tag_expiration_s must be one of \(choices) seconds")
        }
        try await services.accounts.updateOrganization(id: org.id, email: newEmail, tagExpirationSeconds: input.tag_expiration_s)
        guard let updated = try await services.accounts.namespace(id: org.id) else { throw APIError.notFound("organization not found") }
        return APIResponse.json(try await view(of: updated, for: user))
    }

    func delete(_ r: APIRequest) async throws -> Response {
        try await remove(try Self.organization(of: r), by: try r.user)
        return APIResponse.noContent()
    }

    /// Deletes an organization: its owner's `DELETE` and the superuser's both come here.
    func remove(_ org: Namespace, by user: Namespace) async throws {
        // Single-segment names (`busybox`) resolve to the default namespace; it must stay.
        guard org.name != RepositoryPath.libraryNamespace else {
            throw APIError.invalidRequest("The default namespace '\(org.name)' cannot be deleted")
        }
        try await services.accounts.deleteOrganization(id: org.id)
        services.logger.notice("organization deleted", metadata: ["namespace": "\(org.name)", "by": "\(user.name)"])
    }

    // MARK: Members and collaborators

    struct MemberTeam: Encodable {
        let name: String
        let avatar: Avatar
    }

    struct MemberView: Encodable {
        let name: String
        let kind: String
        let is_robot: Bool
        let avatar: Avatar
        let teams: [MemberTeam]
        let repositories: [String]
    }

    /// The human members (robots are left out, as in Quay) with their teams and the
    /// repositories they hold direct grants on.
    func members(_ r: APIRequest) async throws -> Response {
        let org = try Self.organization(of: r)
        let grants = try await services.accounts.directRepositoryGrants(organizationID: org.id)
        let members = try await services.accounts.organizationMemberships(organizationID: org.id).filter { $0.account.isUser }
        let views = members.map { m in
            MemberView(name: m.account.name, kind: "user", is_robot: false, avatar: .account(m.account),
                       teams: m.teams.map { MemberTeam(name: $0, avatar: .team($0)) },
                       repositories: grants.filter { $0.account.id == m.account.id }.map(\.repository))
        }
        return APIResponse.json(["members": views])
    }

    /// One member: a user in a team of the organization, or a robot it owns.
    func member(_ r: APIRequest) async throws -> Response {
        let org = try Self.organization(of: r)
        let name = Self.decodedParameter(r, "membername")
        guard let account = try await services.accounts.orgAccount(named: name), account.isUser || account.isRobot else {
            throw APIError.notFound("member not found")
        }
        let teams = try await services.accounts.orgTeams(ofAccount: account.id, organizationID: org.id)
        if teams.isEmpty && !(account.isRobot && account.ownerID == org.id) {
            throw APIError.notFound("member not found")
        }
        let grants = try await services.accounts.directRepositoryGrants(organizationID: org.id, accountID: account.id)
        return APIResponse.json(MemberView(name: account.name, kind: account.isRobot ? "robot" : "user", is_robot: account.isRobot,
                                           avatar: .account(account), teams: teams.map { MemberTeam(name: $0.name, avatar: .team($0.name)) },
                                           repositories: grants.map(\.repository)))
    }

    /// Removes a user from every team of the organization and revokes their direct grants on
    /// its repositories (Quay `remove_organization_member`); the last admin cannot be removed.
    func removeMember(_ r: APIRequest) async throws -> Response {
        let org = try Self.organization(of: r)
        let name = Self.decodedParameter(r, "membername")
        guard let account = try await services.accounts.orgAccount(named: name), account.isUser else {
            throw APIError.notFound("user not found")
        }
        try await Self.enforcingPolicy {
            try await services.accounts.removeOrganizationMember(organizationID: org.id, userID: account.id)
        }
        return APIResponse.noContent()
    }

    struct CollaboratorView: Encodable {
        let name: String
        let kind = "user"
        let is_robot = false
        let avatar: Avatar
        let repositories: [String]
    }

    /// Users outside every team who hold direct grants on the organization's repositories.
    func collaborators(_ r: APIRequest) async throws -> Response {
        let org = try Self.organization(of: r)
        let memberIDs = Set(try await services.accounts.organizationMemberships(organizationID: org.id).map(\.account.id))
        var views: [CollaboratorView] = []
        var current: (account: OrgAccount, repositories: [String])?
        for grant in try await services.accounts.directRepositoryGrants(organizationID: org.id)
        where grant.account.isUser && !memberIDs.contains(grant.account.id) {
            if current?.account.id == grant.account.id {
                current?.repositories.append(grant.repository)
            } else {
                if let c = current { views.append(CollaboratorView(name: c.account.name, avatar: .account(c.account), repositories: c.repositories)) }
                current = (grant.account, [grant.repository])
            }
        }
        if let c = current { views.append(CollaboratorView(name: c.account.name, avatar: .account(c.account), repositories: c.repositories)) }
        return APIResponse.json(["collaborators": views])
    }

    // MARK: Shared helpers

    /// The organization `APIRoutes` resolved for an `.organization*` route.
    static func organization(of r: APIRequest) throws -> Namespace {
        guard let org = r.organization else { throw APIError.notFound("organization not found") }
        return org
    }

    /// A path parameter with percent-escapes undone (`acme%2Bbot` → `acme+bot`).
    static func decodedParameter(_ r: APIRequest, _ name: String) -> String {
        let raw = r.parameter(name)
        return raw.removingPercentEncoding ?? raw
    }

    /// Runs a membership change, turning an organization-policy refusal into a 400.
    static func enforcingPolicy<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let violation as OrganizationPolicyViolation {
            throw APIError.invalidRequest(violation.message)
        }
    }

    static func isPlausibleEmail(_ s: String) -> Bool {
        guard s.utf8.count >= 3, s.utf8.count <= 255, !s.contains(where: { $0.isWhitespace || $0.isNewline }) else { return false }
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
    }
}
