import Accounts
import Foundation
import Registry
import SlipwayTestSupport
import Testing

/// Matrix rows for `OrganizationAPI`, `TeamAPI` and `PrototypeAPI`. Rows that change membership
/// work on fresh teams, users or organizations per identity so that the fixture's identities keep
/// their relation to `acme` for every other row (accepting an invitation happens in a separate
/// organization; prototypes are created in one too, so they never touch repositories of `acme`).
extension MatrixRows {
    static let organizations: [MatrixRow] = [
        // Organizations
        MatrixRow(.post, "/api/v1/organization/", expect(201, [.anonymous: 401, .narrowToken: 403])) { _, who in
            ("/api/v1/organization/", #"{"name":"org-\#(who.slug)"}"#)
        },
        MatrixRow(.get, "/api/v1/organization/{orgname}", path: "/api/v1/organization/acme", expect(200, [.anonymous: 401])),
        MatrixRow(.put, "/api/v1/organization/{orgname}", path: "/api/v1/organization/acme", body: #"{"tag_expiration_s":1209600}"#,
                  orgAdminOnly(200)),
        MatrixRow(.delete, "/api/v1/organization/{orgname}", orgAdminOnly(204)) { f, who in
            let org = try await f.organization("gone-\(who.slug)")
            return ("/api/v1/organization/\(org.name)", nil)
        },
        MatrixRow(.get, "/api/v1/organization/{orgname}/members", path: "/api/v1/organization/acme/members", orgAdminOnly(200)),
        MatrixRow(.get, "/api/v1/organization/{orgname}/members/{membername}", path: "/api/v1/organization/acme/members/member",
                  orgAdminOnly(200)),
        MatrixRow(.delete, "/api/v1/organization/{orgname}/members/{membername}", orgAdminOnly(204)) { f, who in
            let user = try await f.teamMember(team: "leavers-\(who.slug)", user: "leaver-\(who.slug)")
            return ("/api/v1/organization/acme/members/\(user.name)", nil)
        },
        MatrixRow(.get, "/api/v1/organization/{orgname}/collaborators", path: "/api/v1/organization/acme/collaborators", orgAdminOnly(200)),

        // Teams
        MatrixRow(.put, "/api/v1/organization/{orgname}/team/{teamname}", path: "/api/v1/organization/acme/team/matrix-team",
                  body: #"{"role":"member","description":"matrix"}"#, orgAdminOnly(200)),
        MatrixRow(.delete, "/api/v1/organization/{orgname}/team/{teamname}", orgAdminOnly(204)) { f, who in
            _ = try await f.registry.services.accounts.upsertTeam(organizationID: f.acme.id, name: "doomed-\(who.slug)", role: .member)
            return ("/api/v1/organization/acme/team/doomed-\(who.slug)", nil)
        },
        // Team members are visible to the team's members and the organization's admins.
        MatrixRow(.get, "/api/v1/organization/{orgname}/team/{teamname}/members",
                  path: "/api/v1/organization/acme/team/readers/members?includePending=true",
                  expect(403, [.anonymous: 401, .orgAdmin: 200, .member: 200])),
        MatrixRow(.put, "/api/v1/organization/{orgname}/team/{teamname}/members/{membername}", orgAdminOnly(200)) { f, who in
            let user = try await f.registry.createUser("joiner-\(who.slug)")
            _ = try await f.registry.services.accounts.upsertTeam(organizationID: f.acme.id, name: "joiners", role: .member)
            return ("/api/v1/organization/acme/team/joiners/members/\(user.name)", nil)
        },
        MatrixRow(.delete, "/api/v1/organization/{orgname}/team/{teamname}/members/{membername}", orgAdminOnly(204)) { f, who in
            let user = try await f.teamMember(team: "drop-\(who.slug)", user: "dropped-\(who.slug)")
            return ("/api/v1/organization/acme/team/drop-\(who.slug)/members/\(user.name)", nil)
        },
        MatrixRow(.get, "/api/v1/organization/{orgname}/team/{teamname}/permissions",
                  path: "/api/v1/organization/acme/team/readers/permissions", orgAdminOnly(200)),
        // Team sync: organization admins only. The matrix registry has no provider with a groups
        // claim, so enabling is a 400 for the admin (TeamSyncAPITests covers the configured case);
        // disabling an unsynced team changes nothing and answers the team.
        MatrixRow(.post, "/api/v1/organization/{orgname}/team/{teamname}/syncing",
                  path: "/api/v1/organization/acme/team/readers/syncing", body: #"{"group_name":"devs"}"#, orgAdminOnly(400)),
        MatrixRow(.delete, "/api/v1/organization/{orgname}/team/{teamname}/syncing",
                  path: "/api/v1/organization/acme/team/readers/syncing", orgAdminOnly(200)),

        // Invitations: each identity answers an invitation addressed to itself.
        MatrixRow(.put, "/api/v1/teaminvite/{code}", expect(200, [.anonymous: 401, .narrowToken: 403])) { f, who in
            ("/api/v1/teaminvite/\(try await f.invite(who, org: "invput-\(who.slug)"))", nil)
        },
        MatrixRow(.delete, "/api/v1/teaminvite/{code}", expect(204, [.anonymous: 401, .narrowToken: 403])) { f, who in
            ("/api/v1/teaminvite/\(try await f.invite(who, org: "invdel-\(who.slug)"))", nil)
        },

        // Default permissions
        MatrixRow(.get, "/api/v1/organization/{orgname}/prototypes", path: "/api/v1/organization/acme/prototypes", orgAdminOnly(200)),
        MatrixRow(.post, "/api/v1/organization/{orgname}/prototypes", orgAdminOnly(200)) { f, _ in
            let org = try await f.organization("matrix-protos")
            return ("/api/v1/organization/\(org.name)/prototypes", #"{"role":"read","delegate":{"name":"owners","kind":"team"}}"#)
        },
        MatrixRow(.put, "/api/v1/organization/{orgname}/prototypes/{prototypeid}", orgAdminOnly(200)) { f, _ in
            let (org, id) = try await f.prototype()
            return ("/api/v1/organization/\(org.name)/prototypes/\(id)", #"{"role":"write"}"#)
        },
        MatrixRow(.delete, "/api/v1/organization/{orgname}/prototypes/{prototypeid}", orgAdminOnly(204)) { f, _ in
            let (org, id) = try await f.prototype()
            return ("/api/v1/organization/\(org.name)/prototypes/\(id)", nil)
        },
    ]
}

/// Routes only `acme`'s admin may use: 401 anonymous, 403 for every other signed-in identity
/// (including the instance superuser, who is not in the organization, and the narrow token).
private func orgAdminOnly(_ status: Int) -> [MatrixIdentity: Int] {
    expect(403, [.anonymous: 401, .orgAdmin: status])
}

private extension MatrixIdentity {
    var slug: String { rawValue.lowercased() }
}

private extension MatrixFixture {
    /// The organization of that name, created by `orgadmin` if it does not exist yet.
    func organization(_ name: String) async throws -> Namespace {
        let accounts = registry.services.accounts
        if let existing = try await accounts.namespace(named: name) { return existing }
        return try await accounts.createOrganization(name: name, email: nil, creatorID: users[.orgAdmin]!.id)
    }

    /// A fresh user in a fresh member-role team of `acme`.
    func teamMember(team: String, user: String) async throws -> Namespace {
        let accounts = registry.services.accounts
        let account = try await registry.createUser(user)
        let teamID = try await accounts.upsertTeam(organizationID: acme.id, name: team, role: .member)
        try await accounts.addTeamMember(teamID: teamID, userID: account.id)
        return account
    }

    /// An invitation to a team of a fresh organization, addressed to `who` (the outsider stands
    /// in for anonymous, who is refused before the code matters).
    func invite(_ who: MatrixIdentity, org name: String) async throws -> String {
        let accounts = registry.services.accounts
        let org = try await organization(name)
        let team = try await accounts.upsertTeam(organizationID: org.id, name: "joiners", role: .member)
        let invitee = users[who] ?? users[.outsider]!
        return try await accounts.createTeamInvite(teamID: team, userID: invitee.id, inviterID: users[.orgAdmin]!.id)
    }

    /// A fresh prototype in the `matrix-protos` organization.
    func prototype() async throws -> (Namespace, String) {
        let accounts = registry.services.accounts
        let org = try await organization("matrix-protos")
        let owners = try #require(try await accounts.orgTeam(organizationID: org.id, name: "owners"))
        let p = try await accounts.createPrototype(organizationID: org.id, role: .read, activatingUserID: nil, delegateUserID: nil,
                                                delegateTeamID: owners.id)
        return (org, p.uuid)
    }
}
