import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import Mail

/// Teams of an organization, their members and invitations (Quay `endpoints/api/team.py`).
///
/// Routes and the permission each needs (enforced by `APIRoutes`; the members list also needs
/// the caller to be in the team or an org admin, as Quay's `ViewTeamPermission`):
/// - PUT    /api/v1/organization/{orgname}/team/{teamname}                      organization admin
/// - DELETE /api/v1/organization/{orgname}/team/{teamname}                      organization admin
/// - GET    /api/v1/organization/{orgname}/team/{teamname}/members              organization member
/// - PUT    /api/v1/organization/{orgname}/team/{teamname}/members/{membername} organization admin
/// - DELETE /api/v1/organization/{orgname}/team/{teamname}/members/{membername} organization admin
/// - GET    /api/v1/organization/{orgname}/team/{teamname}/permissions          organization admin
/// - PUT    /api/v1/teaminvite/{code}                                           signed in, user:admin (the invitee)
/// - DELETE /api/v1/teaminvite/{code}                                           signed in, user:admin (the invitee)
///
/// Users join directly unless `auth.requireTeamInvite` is set and they are not yet in the
/// organization; then an invitation is created and they show as `invited` until they accept it.
/// Robots of the organization always join directly. Users of a synced team (`TeamSyncAPI`)
/// come and go with their provider's groups only: adding or removing one by hand is refused
/// with Quay's 400 "Cannot call this method on an auth-synced team". The invitee learns of the invitation from an
/// `org_team_invite` in-app notification and, when their account has an e-mail address, a mail
/// with the accept link (queued in the mail outbox, in the same transaction as the invitation).
/// The code is never logged.
struct TeamAPI {
    let services: RegistryServices
    /// Who shows invitations to their invitees (the notifications module's in-app notices).
    let inviteNotices: [any TeamInviteNotices]

    func register(_ api: APIRoutes) {
        let team = "/api/v1/organization/{orgname}/team/{teamname}"
        api.add(.put, team, .organizationAdmin) { try await save($0) }
        api.add(.delete, team, .organizationAdmin) { try await delete($0) }
        api.add(.get, team + "/members", .organizationMember) { try await members($0) }
        api.add(.put, team + "/members/{membername}", .organizationAdmin) { try await addMember($0) }
        api.add(.delete, team + "/members/{membername}", .organizationAdmin) { try await removeMember($0) }
        api.add(.get, team + "/permissions", .organizationAdmin) { try await permissions($0) }
        api.add(.put, "/api/v1/teaminvite/{code}", .user(scope: "user:admin")) { try await acceptInvite($0) }
        api.add(.delete, "/api/v1/teaminvite/{code}", .user(scope: "user:admin")) { try await declineInvite($0) }
    }

    // MARK: Teams

    struct TeamInput: Decodable {
        let role: String
        let description: String?
    }

    struct TeamView: Encodable {
        let name: String
        let description: String
        let can_view = true
        let role: String
        let avatar: Avatar
        let new_team: Bool
    }

    /// Creates the team or changes its role/description.
    func save(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        let org = try OrganizationAPI.organization(of: r)
        let name = OrganizationAPI.decodedParameter(r, "teamname")
        guard Names.isValidNamespace(name) else {
            throw APIError.invalidRequest("Invalid team name: use 2-255 characters of a-z, 0-9 and single '.', '_' or '-' between them")
        }
        let input = try await r.decode(TeamInput.self)
        guard let role = TeamRole(rawValue: input.role) else {
            throw APIError.invalidRequest("'role' must be one of member, creator, admin")
        }
        let (team, created) = try await OrganizationAPI.enforcingPolicy {
            try await services.accounts.saveTeam(organizationID: org.id, name: name, role: role, description: input.description,
                                              actingUserID: user.id)
        }
        return APIResponse.json(Self.teamView(team, created: created))
    }

    static func teamView(_ team: TeamRecord, created: Bool = false) -> TeamView {
        TeamView(name: team.name, description: team.description, role: team.role.rawValue, avatar: .team(team.name), new_team: created)
    }

    func delete(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        let team = try await existingTeam(r)
        try await OrganizationAPI.enforcingPolicy {
            try await services.accounts.deleteTeam(team, actingUserID: user.id)
        }
        return APIResponse.noContent()
    }

    // MARK: Members

    struct MemberView: Encodable {
        let name: String
        let kind = "user"
        let is_robot: Bool
        let avatar: Avatar
        let invited: Bool

        init(_ account: OrgAccount, invited: Bool) {
            name = account.name
            is_robot = account.isRobot
            avatar = .account(account)
            self.invited = invited
        }
    }

    struct MembersView: Encodable {
        let name: String
        let members: [MemberView]
        let can_edit: Bool
        let can_sync: TeamSyncAPI.CanSyncView?
        let synced: TeamSyncAPI.SyncedView?
    }

    /// The team's members; org admins may add `?includePending=true` to see invitations.
    func members(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        let org = try OrganizationAPI.organization(of: r)
        let name = OrganizationAPI.decodedParameter(r, "teamname")
        let isAdmin = try await services.accounts.teamRole(userID: user.id, organizationID: org.id) == .admin
        // Members of other teams get 403 whether or not the team exists, as in Quay.
        let team = try await services.accounts.orgTeam(organizationID: org.id, name: name)
        if !isAdmin {
            guard let team, try await services.accounts.isTeamMember(teamID: team.id, accountID: user.id) else {
                throw APIError.insufficientScope("Unauthorized: requires membership of the team or organization admin")
            }
        }
        guard let team else { throw APIError.notFound("team not found") }
        var views = try await services.accounts.teamMembers(teamID: team.id).map { MemberView($0, invited: false) }
        let pendingFlag = r.request.uri.queryParameters["includePending"].map { String($0).lowercased() } ?? ""
        if isAdmin && ["true", "1", "yes", "y", "t", "on"].contains(pendingFlag) {
            views += try await services.accounts.pendingTeamInvitees(teamID: team.id).map { MemberView($0, invited: true) }
        }
        let providers = TeamSyncAPI.syncingProviders(services.config).map(\.name)
        let binding = try await services.accounts.teamSync(teamID: team.id)
        return APIResponse.json(MembersView(name: team.name, members: views, can_edit: isAdmin,
                                            can_sync: isAdmin && !providers.isEmpty ? .init(providers: providers) : nil,
                                            synced: binding.map { .init(binding: $0, detailed: isAdmin || user.isSuperuser) }))
    }

    /// Adds (or invites) a user, or adds a robot of this organization.
    func addMember(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        let org = try OrganizationAPI.organization(of: r)
        let team = try await existingTeam(r)
        let memberName = OrganizationAPI.decodedParameter(r, "membername")
        try await refuseIfSynced(team, memberName: memberName)
        guard let account = try await services.accounts.orgAccount(named: memberName), account.isUser || account.isRobot else {
            throw APIError.invalidRequest("Unknown user")
        }
        if account.isRobot {
            guard account.ownerID == org.id else {
                throw APIError.invalidRequest("Cannot add the specified robot to this team, as it is not a member of the organization")
            }
        } else if services.config.auth.requireTeamInvite,
                  try await services.accounts.teamRole(userID: account.id, organizationID: org.id) == nil {
            try await invite(account, to: team, of: org, by: user, origin: r.origin)
            services.logger.info("team invitation created",
                                 metadata: ["namespace": "\(org.name)", "team": "\(team.name)", "invitee": "\(account.name)", "by": "\(user.name)"])
            return APIResponse.json(MemberView(account, invited: true))
        }
        try await services.accounts.joinTeam(teamID: team.id, accountID: account.id)
        return APIResponse.json(MemberView(account, invited: false))
    }

    /// Withdraws a pending invitation, or removes a member.
    func removeMember(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        let team = try await existingTeam(r)
        let memberName = OrganizationAPI.decodedParameter(r, "membername")
        try await refuseIfSynced(team, memberName: memberName)
        guard let account = try await services.accounts.orgAccount(named: memberName), account.isUser || account.isRobot else {
            throw APIError.notFound("user not found")
        }
        if try await services.accounts.deleteTeamInvite(teamID: team.id, userID: account.id) {
            try await services.accounts.clearStaleTeamInviteNotifications(userID: account.id, notices: inviteNotices)
            return APIResponse.noContent()
        }
        let removed = try await OrganizationAPI.enforcingPolicy {
            try await services.accounts.leaveTeam(team, accountID: account.id, actingUserID: user.id)
        }
        guard removed else { throw APIError.invalidRequest("User \(account.name) does not belong to team \(team.name)") }
        return APIResponse.noContent()
    }

    // MARK: Repository permissions

    struct PermissionView: Encodable {
        struct RepositoryRef: Encodable {
            let name: String
            let is_public: Bool
        }
        let repository: RepositoryRef
        let role: String
    }

    /// The team's grants on the organization's repositories (granting is the repository
    /// permissions API's job).
    func permissions(_ r: APIRequest) async throws -> Response {
        let team = try await existingTeam(r)
        let grants = try await services.accounts.teamRepositoryGrants(teamID: team.id)
        return APIResponse.json(["permissions": grants.map {
            PermissionView(repository: .init(name: $0.repository, is_public: $0.isPublic), role: $0.role.rawValue)
        }])
    }

    // MARK: Invitations

    struct AcceptedInvite: Encodable {
        let org: String
        let team: String
    }

    /// The invitee accepts: they join the team (and any other team of the organization they are
    /// invited to). Codes addressed to someone else look unknown.
    func acceptInvite(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        guard let joined = try await services.accounts.acceptTeamInvite(code: r.parameter("code"), userID: user.id) else {
            throw APIError.notFound("Invalid confirmation code")
        }
        try await services.accounts.clearStaleTeamInviteNotifications(userID: user.id, notices: inviteNotices)
        return APIResponse.json(AcceptedInvite(org: joined.organization, team: joined.team))
    }

    func declineInvite(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        guard try await services.accounts.declineTeamInvite(code: r.parameter("code"), userID: user.id) else {
            throw APIError.notFound("Invalid confirmation code")
        }
        try await services.accounts.clearStaleTeamInviteNotifications(userID: user.id, notices: inviteNotices)
        return APIResponse.noContent()
    }

    /// Stores the invitation with its notification and, for a user with an address, its mail.
    /// Links use the request's origin (`server.publicURL` when set): `/confirminvite?code=` is
    /// Quay's accept page.
    private func invite(_ account: OrgAccount, to team: TeamRecord, of org: Namespace, by inviter: Namespace, origin: String) async throws {
        let code = APITokens.generate()
        let mail = account.email.flatMap { LogExportAPI.looksLikeEmail($0) ? $0 : nil }.map { address in
            OutgoingMail(recipient: address, subject: "Invitation to join team \(team.name) of \(org.name)",
                         body: Self.inviteMailBody(invitee: account.name, inviter: inviter.name, org: org.name, team: team.name,
                                                   code: code, origin: origin),
                         kind: .teamInvite, reference: "\(team.id):\(account.id)")
        }
        try await services.accounts.createTeamInvite(TeamInvitation(
            teamID: team.id, userID: account.id, inviterID: inviter.id, code: code,
            notificationMetadata: ["inviter": .string(inviter.name), "org": .string(org.name), "team": .string(team.name), "code": .string(code)],
            mail: mail), secretBox: services.secretBox, notices: inviteNotices)
    }

    static func inviteMailBody(invitee: String, inviter: String, org: String, team: String, code: String, origin: String) -> String {
        """
        Hello \(invitee),

        \(inviter) has invited you to join the team \(team) of the organization \(org).

        To join, sign in and open this link:

        \(origin)/confirminvite?code=\(code)

        API clients accept with PUT \(origin)/api/v1/teaminvite/\(code) (and decline with DELETE),
        using a token of your account with the user:admin scope.

        If you were not expecting this invitation, you can ignore this mail.
        """
    }

    // MARK: Helpers

    private func existingTeam(_ r: APIRequest) async throws -> TeamRecord {
        try await Self.existingTeam(r, accounts: services.accounts)
    }

    static func existingTeam(_ r: APIRequest, accounts: AccountStore) async throws -> TeamRecord {
        let org = try OrganizationAPI.organization(of: r)
        guard let team = try await accounts.orgTeam(organizationID: org.id, name: OrganizationAPI.decodedParameter(r, "teamname")) else {
            throw APIError.notFound("team not found")
        }
        return team
    }

    /// Quay's `disallow_nonrobots_for_synced_team`: a synced team's users follow the provider.
    private func refuseIfSynced(_ team: TeamRecord, memberName: String) async throws {
        guard !memberName.contains("+"), try await services.accounts.teamSync(teamID: team.id) != nil else { return }
        throw APIError.invalidRequest("Cannot call this method on an auth-synced team")
    }
}
