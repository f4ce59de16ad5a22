import Accounts
import Foundation
import HTTPTypes
import NIOCore
import Registry
import SlipwayTestSupport
import Testing

@Suite("API v1: teams and invitations")
struct TeamAPITests {
    typealias S = OrgTestSupport

    @Test(arguments: TestBackend.available)
    func createUpdateAndDeleteTeams(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let accounts = registry.services.accounts
            let alice = try await registry.createUser("alice")
            let bob = try await registry.createUser("bob")
            let aliceToken = try await S.token(registry, "alice")
            let bobToken = try await S.token(registry, "bob")
            let acme = try await accounts.createOrganization(name: "acme", email: nil, creatorID: alice.id)

            let created = try await S.send(c, .put, "/api/v1/organization/acme/team/testteam", token: aliceToken,
                                           json: #"{"role":"creator","description":"builds things"}"#)
            #expect(created.status == .ok)
            let view = S.object(created)
            #expect(view["name"] as? String == "testteam")
            #expect(view["role"] as? String == "creator")
            #expect(view["description"] as? String == "builds things")
            #expect(view["new_team"] as? Bool == true)
            #expect(view["can_view"] as? Bool == true)
            // Quay's documented avatar for a team called "testteam".
            let avatar = try #require(view["avatar"] as? [String: Any])
            #expect(avatar["hash"] as? String == "827f8c5762148d7e85402495b126e0a18b9b168170416ed04b49aae551099dc8")
            #expect(avatar["color"] as? String == "#ff7f0e")
            #expect(avatar["kind"] as? String == "team")

            let updated = S.object(try await S.send(c, .put, "/api/v1/organization/acme/team/testteam", token: aliceToken, json: #"{"role":"member"}"#))
            #expect(updated["new_team"] as? Bool == false)
            #expect(updated["role"] as? String == "member")
            #expect(updated["description"] as? String == "builds things")
            #expect(try await accounts.orgTeam(organizationID: acme.id, name: "testteam")?.role == .member)

            for (path, body) in [("x", #"{"role":"member"}"#), ("Team", #"{"role":"member"}"#), ("a--b", #"{"role":"member"}"#),
                                 ("okteam", #"{"role":"owner"}"#), ("okteam", #"{"description":"no role"}"#), ("okteam", "nope")] {
                let bad = try await S.send(c, .put, "/api/v1/organization/acme/team/\(path)", token: aliceToken, json: body)
                #expect(bad.status == .badRequest, "\(path) \(body)")
                #expect(S.object(bad)["error_type"] as? String == "invalid_request")
            }
            #expect(try await accounts.orgTeam(organizationID: acme.id, name: "okteam") == nil)

            // Only admins manage teams.
            let testteam = try #require(try await accounts.orgTeam(organizationID: acme.id, name: "testteam"))
            try await accounts.addTeamMember(teamID: testteam.id, userID: bob.id)
            #expect(try await S.send(c, .put, "/api/v1/organization/acme/team/testteam", token: bobToken, json: #"{"role":"admin"}"#).status == .forbidden)
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/team/testteam", token: bobToken).status == .forbidden)
            #expect(try await S.send(c, .put, "/api/v1/organization/acme/team/testteam", token: nil, json: #"{"role":"admin"}"#).status == .unauthorized)

            // The only admin cannot demote or delete their only admin team.
            let demote = try await S.send(c, .put, "/api/v1/organization/acme/team/owners", token: aliceToken, json: #"{"role":"member"}"#)
            #expect(demote.status == .badRequest)
            #expect(try await accounts.orgTeam(organizationID: acme.id, name: "owners")?.role == .admin)
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/team/owners", token: aliceToken).status == .badRequest)
            // With a second admin team of hers, she can.
            #expect(try await S.send(c, .put, "/api/v1/organization/acme/team/admins", token: aliceToken, json: #"{"role":"admin"}"#).status == .ok)
            #expect(try await S.send(c, .put, "/api/v1/organization/acme/team/admins/members/alice", token: aliceToken).status == .ok)
            #expect(try await S.send(c, .put, "/api/v1/organization/acme/team/owners", token: aliceToken, json: #"{"role":"creator"}"#).status == .ok)
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/team/owners", token: aliceToken).status == .noContent)
            #expect(try await accounts.teamRole(userID: alice.id, organizationID: acme.id) == .admin)

            // Deleting a team removes its members' access through it.
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/team/testteam", token: aliceToken).status == .noContent)
            #expect(try await accounts.teamRole(userID: bob.id, organizationID: acme.id) == nil)
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/team/testteam", token: aliceToken).status == .notFound)
            #expect(try await S.send(c, .delete, "/api/v1/organization/nope/team/testteam", token: aliceToken).status == .notFound)
        }
    }

    @Test(arguments: TestBackend.available)
    func membersAndPermissions(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let accounts = registry.services.accounts
            let alice = try await registry.createUser("alice")
            let bob = try await registry.createUser("bob")
            let carol = try await registry.createUser("carol")
            try await registry.createUser("dave")
            let aliceToken = try await S.token(registry, "alice")
            let bobToken = try await S.token(registry, "bob")
            let carolToken = try await S.token(registry, "carol")
            let acme = try await accounts.createOrganization(name: "acme", email: nil, creatorID: alice.id)
            try await accounts.createOrganization(name: "other", email: nil, creatorID: carol.id)
            try await S.robot(registry, owner: "acme", short: "ci")
            try await S.robot(registry, owner: "other", short: "ci")
            try await S.robot(registry, owner: "bob", short: "mine")
            _ = try await accounts.upsertTeam(organizationID: acme.id, name: "devs", role: .member)

            // Users are added directly (no invitations by default); robots of the organization too.
            let added = try await S.send(c, .put, "/api/v1/organization/acme/team/devs/members/bob", token: aliceToken)
            #expect(added.status == .ok)
            #expect(S.object(added)["invited"] as? Bool == false)
            #expect(S.object(added)["is_robot"] as? Bool == false)
            #expect(S.object(added)["kind"] as? String == "user")
            #expect(try await S.send(c, .put, "/api/v1/organization/acme/team/devs/members/bob", token: aliceToken).status == .ok)
            let robot = try await S.send(c, .put, "/api/v1/organization/acme/team/devs/members/acme%2Bci", token: aliceToken)
            #expect(robot.status == .ok)
            #expect(S.object(robot)["is_robot"] as? Bool == true)
            #expect(S.object(robot)["name"] as? String == "acme+ci")
            // Robots of other namespaces, organizations and unknown names are refused; unknown teams are 404.
            for name in ["other+ci", "bob+mine", "other", "acme", "ghost"] {
                #expect(try await S.send(c, .put, "/api/v1/organization/acme/team/devs/members/\(name)", token: aliceToken).status == .badRequest, "\(name)")
            }
            #expect(try await S.send(c, .put, "/api/v1/organization/acme/team/ghosts/members/dave", token: aliceToken).status == .notFound)
            #expect(try await S.send(c, .put, "/api/v1/organization/acme/team/devs/members/dave", token: bobToken).status == .forbidden)
            #expect(try await S.send(c, .put, "/api/v1/organization/acme/team/devs/members/dave", token: carolToken).status == .forbidden)

            // The member list: the team's members and the admins may read it.
            let list = S.object(try await S.send(c, .get, "/api/v1/organization/acme/team/devs/members", token: bobToken))
            #expect(list["name"] as? String == "devs")
            #expect(list["can_edit"] as? Bool == false)
            let members = try #require(list["members"] as? [[String: Any]])
            #expect(members.map { $0["name"] as? String } == ["acme+ci", "bob"])
            #expect(members.map { $0["is_robot"] as? Bool } == [true, false])
            #expect(members.allSatisfy { $0["invited"] as? Bool == false && $0["kind"] as? String == "user" })
            #expect(S.object(try await S.send(c, .get, "/api/v1/organization/acme/team/devs/members", token: aliceToken))["can_edit"] as? Bool == true)
            // Members of the organization outside the team get 403, existing team or not; outsiders too.
            #expect(try await S.send(c, .get, "/api/v1/organization/acme/team/owners/members", token: bobToken).status == .forbidden)
            #expect(try await S.send(c, .get, "/api/v1/organization/acme/team/ghosts/members", token: bobToken).status == .forbidden)
            #expect(try await S.send(c, .get, "/api/v1/organization/acme/team/ghosts/members", token: aliceToken).status == .notFound)
            #expect(try await S.send(c, .get, "/api/v1/organization/acme/team/devs/members", token: carolToken).status == .forbidden)
            #expect(try await S.send(c, .get, "/api/v1/organization/acme/team/devs/members", token: nil).status == .unauthorized)

            // Team permissions (granted by the repository permissions API; read here).
            let push = try #require(try await c.token(.init("alice"), scopes: ["repository:acme/app:pull,push"]))
            try await c.pushImage("acme/app", tag: "v1", token: push)
            let app = try #require(try await accounts.repository(RepositoryPath(namespace: "acme", name: "app")))
            let devs = try #require(try await accounts.orgTeam(organizationID: acme.id, name: "devs"))
            try await accounts.setTeamPermission(repositoryID: app.id, teamID: devs.id, role: .write)
            let perms = S.object(try await S.send(c, .get, "/api/v1/organization/acme/team/devs/permissions", token: aliceToken))
            let permissions = try #require(perms["permissions"] as? [[String: Any]])
            #expect(permissions.count == 1)
            #expect((permissions.first?["repository"] as? [String: Any])?["name"] as? String == "app")
            #expect((permissions.first?["repository"] as? [String: Any])?["is_public"] as? Bool == false)
            #expect(permissions.first?["role"] as? String == "write")
            #expect(try await S.send(c, .get, "/api/v1/organization/acme/team/devs/permissions", token: bobToken).status == .forbidden)
            #expect(try await S.send(c, .get, "/api/v1/organization/acme/team/ghosts/permissions", token: aliceToken).status == .notFound)
            #expect(try await accounts.role(userID: bob.id, repository: app) == .write)

            // Removing members.
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/team/devs/members/bob", token: aliceToken).status == .noContent)
            #expect(try await accounts.role(userID: bob.id, repository: app) == nil)
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/team/devs/members/bob", token: aliceToken).status == .badRequest)
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/team/devs/members/ghost", token: aliceToken).status == .notFound)
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/team/devs/members/acme+ci", token: aliceToken).status == .noContent)
            // You cannot leave your only admin team; another admin may be removed.
            let leave = try await S.send(c, .delete, "/api/v1/organization/acme/team/owners/members/alice", token: aliceToken)
            #expect(leave.status == .badRequest)
            #expect(try await accounts.teamRole(userID: alice.id, organizationID: acme.id) == .admin)
            #expect(try await S.send(c, .put, "/api/v1/organization/acme/team/owners/members/dave", token: aliceToken).status == .ok)
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/team/owners/members/dave", token: aliceToken).status == .noContent)
        }
    }

    @Test(arguments: TestBackend.available)
    func invitations(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.auth.requireTeamInvite = true }) { registry, c in
            let accounts = registry.services.accounts
            let alice = try await registry.createUser("alice")
            let bob = try await registry.createUser("bob")
            let carol = try await registry.createUser("carol")
            let dave = try await registry.createUser("dave")
            let erin = try await registry.createUser("erin")
            let aliceToken = try await S.token(registry, "alice")
            let carolToken = try await S.token(registry, "carol")
            let daveToken = try await S.token(registry, "dave")
            let erinToken = try await S.token(registry, "erin")
            let acme = try await accounts.createOrganization(name: "acme", email: nil, creatorID: alice.id)
            let devs = try await accounts.upsertTeam(organizationID: acme.id, name: "devs", role: .member)
            let ops = try await accounts.upsertTeam(organizationID: acme.id, name: "ops", role: .creator)
            try await accounts.addTeamMember(teamID: ops, userID: bob.id)
            try await S.robot(registry, owner: "acme", short: "ci")

            // Outsiders are invited; existing members and robots are added directly.
            let invited = try await S.send(c, .put, "/api/v1/organization/acme/team/devs/members/carol", token: aliceToken)
            #expect(invited.status == .ok)
            #expect(S.object(invited)["invited"] as? Bool == true)
            #expect(try await accounts.teamRole(userID: carol.id, organizationID: acme.id) == nil)
            #expect(S.object(try await S.send(c, .put, "/api/v1/organization/acme/team/devs/members/bob", token: aliceToken))["invited"] as? Bool == false)
            #expect(S.object(try await S.send(c, .put, "/api/v1/organization/acme/team/devs/members/acme+ci", token: aliceToken))["invited"] as? Bool == false)

            let plain = S.object(try await S.send(c, .get, "/api/v1/organization/acme/team/devs/members", token: aliceToken))
            #expect((plain["members"] as? [[String: Any]])?.map { $0["name"] as? String } == ["acme+ci", "bob"])
            let pending = S.object(try await S.send(c, .get, "/api/v1/organization/acme/team/devs/members?includePending=true", token: aliceToken))
            let withPending = try #require(pending["members"] as? [[String: Any]])
            #expect(withPending.map { $0["name"] as? String } == ["acme+ci", "bob", "carol"])
            #expect(withPending.last?["invited"] as? Bool == true)

            // The invitee accepts with the code (mail delivery is a later issue; the store hands it out).
            let code = try await accounts.createTeamInvite(teamID: devs, userID: carol.id, inviterID: alice.id)
            #expect(try await accounts.pendingTeamInvitees(teamID: devs).map(\.name) == ["carol"])
            // Only the invitee can use it, with a user:admin token.
            #expect(try await S.send(c, .put, "/api/v1/teaminvite/\(code)", token: daveToken).status == .notFound)
            let narrow = try await S.token(registry, "carol", scopes: ["user:read"])
            #expect(try await S.send(c, .put, "/api/v1/teaminvite/\(code)", token: narrow).status == .forbidden)
            #expect(try await S.send(c, .put, "/api/v1/teaminvite/\(code)", token: nil).status == .unauthorized)
            let accepted = try await S.send(c, .put, "/api/v1/teaminvite/\(code)", token: carolToken)
            #expect(accepted.status == .ok)
            #expect(S.object(accepted)["org"] as? String == "acme")
            #expect(S.object(accepted)["team"] as? String == "devs")
            #expect(try await accounts.isTeamMember(teamID: devs, accountID: carol.id))
            #expect(try await accounts.pendingTeamInvitees(teamID: devs).isEmpty)
            #expect(try await S.send(c, .put, "/api/v1/teaminvite/\(code)", token: carolToken).status == .notFound)
            // Now a member, carol is added to further teams directly.
            #expect(S.object(try await S.send(c, .put, "/api/v1/organization/acme/team/ops/members/carol", token: aliceToken))["invited"] as? Bool == false)

            // Accepting one invitation joins every team of the organization the user is invited to.
            let first = try await accounts.createTeamInvite(teamID: devs, userID: dave.id, inviterID: alice.id)
            _ = try await accounts.createTeamInvite(teamID: ops, userID: dave.id, inviterID: alice.id)
            #expect(try await S.send(c, .put, "/api/v1/teaminvite/\(first)", token: daveToken).status == .ok)
            #expect(try await accounts.isTeamMember(teamID: devs, accountID: dave.id))
            #expect(try await accounts.isTeamMember(teamID: ops, accountID: dave.id))

            // Declining deletes the invitation; the invitee stays out.
            let declined = try await accounts.createTeamInvite(teamID: devs, userID: erin.id, inviterID: alice.id)
            #expect(try await S.send(c, .delete, "/api/v1/teaminvite/\(declined)", token: daveToken).status == .notFound)
            #expect(try await S.send(c, .delete, "/api/v1/teaminvite/\(declined)", token: erinToken).status == .noContent)
            #expect(try await accounts.teamRole(userID: erin.id, organizationID: acme.id) == nil)
            #expect(try await S.send(c, .delete, "/api/v1/teaminvite/\(declined)", token: erinToken).status == .notFound)
            #expect(try await S.send(c, .put, "/api/v1/teaminvite/\(declined)", token: erinToken).status == .notFound)

            // An admin withdraws a pending invitation through the member route; the code dies with it.
            #expect(S.object(try await S.send(c, .put, "/api/v1/organization/acme/team/devs/members/erin", token: aliceToken))["invited"] as? Bool == true)
            let withdrawn = try await accounts.createTeamInvite(teamID: devs, userID: erin.id, inviterID: alice.id)
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/team/devs/members/erin", token: aliceToken).status == .noContent)
            #expect(try await accounts.pendingTeamInvitees(teamID: devs).isEmpty)
            #expect(try await S.send(c, .put, "/api/v1/teaminvite/\(withdrawn)", token: erinToken).status == .notFound)
            #expect(try await S.send(c, .put, "/api/v1/teaminvite/not-a-code", token: erinToken).status == .notFound)
        }
    }
}
