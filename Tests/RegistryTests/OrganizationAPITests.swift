import Accounts
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Registry
import SlipwayTestSupport
import SQLKit
import Testing

/// Shared set-up for the organization, team and prototype suites.
enum OrgTestSupport {
    static let allScopes = ["repo:read", "repo:write", "repo:admin", "repo:create", "user:read", "user:admin", "org:admin"]

    /// An API token for `user` (all scopes unless told otherwise).
    static func token(_ registry: TestRegistry, _ user: String, scopes: [String] = allScopes) async throws -> String {
        let ns = try #require(try await registry.services.accounts.namespace(named: user))
        let token = APITokens.generate()
        try await registry.services.accounts.createAPIToken(userID: ns.id, tokenHash: APITokens.hash(token), scopes: scopes, description: "test")
        return token
    }

    static func send(_ c: RegistryClient, _ method: HTTPRequest.Method, _ path: String, token: String?, json: String? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if json != nil { headers[.contentType] = "application/json" }
        return try await c.send(method, path, token: token, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }

    /// A robot account row, as the robots API would create it (the token columns do not matter here).
    @discardableResult
    static func robot(_ registry: TestRegistry, owner: String, short: String) async throws -> Namespace {
        let store = registry.services.store
        let accounts = registry.services.accounts
        let ownerNS = try #require(try await accounts.namespace(named: owner))
        let name = "\(owner)+\(short)"
        try await store.database.transaction { db in
            try await db.raw("""
                INSERT INTO namespaces (name, kind, owner_id, created_at) VALUES (\(bind: name), 'robot', \(bind: ownerNS.id), 0)
                """).run()
        }
        return try #require(try await accounts.namespace(named: name))
    }

    static func object(_ response: TestResponse) -> [String: Any] { response.json as? [String: Any] ?? [:] }
}

@Suite("API v1: organizations")
struct OrganizationAPITests {
    typealias S = OrgTestSupport

    @Test(arguments: TestBackend.available)
    func createViewAndSettings(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let accounts = registry.services.accounts
            try await registry.createUser("alice")
            let bob = try await registry.createUser("bob")
            try await registry.createUser("carol")
            let alice = try await S.token(registry, "alice")
            let bobToken = try await S.token(registry, "bob")
            let carol = try await S.token(registry, "carol")

            #expect(try await S.send(c, .post, "/api/v1/organization/", token: alice, json: #"{"name":"acme","email":"ops@acme.test"}"#).status == .created)
            for body in [#"{"name":"acme"}"#, #"{"name":"bob"}"#, #"{"name":"Bad Name"}"#, #"{"name":"ok-org","email":"not-an-email"}"#, "{}"] {
                let bad = try await S.send(c, .post, "/api/v1/organization/", token: alice, json: body)
                #expect(bad.status == .badRequest, "\(body)")
                #expect(S.object(bad)["error_type"] as? String == "invalid_request")
            }
            let acme = try #require(try await accounts.namespace(named: "acme"))
            let devs = try await accounts.upsertTeam(organizationID: acme.id, name: "devs", role: .member, description: "developers")
            try await accounts.addTeamMember(teamID: devs, userID: bob.id)

            // The admin's view.
            let adminView = S.object(try await S.send(c, .get, "/api/v1/organization/acme", token: alice))
            #expect(adminView["name"] as? String == "acme")
            #expect(adminView["email"] as? String == "ops@acme.test")
            #expect(adminView["is_admin"] as? Bool == true)
            #expect(adminView["is_member"] as? Bool == true)
            #expect(adminView["tag_expiration_s"] as? Int == 1_209_600)
            #expect(adminView["ordered_teams"] as? [String] == ["owners", "devs"])
            let teams = try #require(adminView["teams"] as? [String: [String: Any]])
            #expect(teams["owners"]?["role"] as? String == "admin")
            #expect(teams["owners"]?["member_count"] as? Int == 1)
            #expect(teams["owners"]?["can_view"] as? Bool == true)
            #expect(teams["devs"]?["description"] as? String == "developers")
            #expect(teams["devs"]?["repo_count"] as? Int == 0)
            #expect((teams["devs"]?["avatar"] as? [String: Any])?["kind"] as? String == "team")
            #expect((adminView["avatar"] as? [String: Any])?["name"] as? String == "acme")

            // A member sees the teams but not the settings; can_view only for their own team.
            let memberView = S.object(try await S.send(c, .get, "/api/v1/organization/acme", token: bobToken))
            #expect(memberView["is_admin"] as? Bool == false)
            #expect(memberView["is_member"] as? Bool == true)
            #expect(memberView["email"] as? String == "")
            #expect(memberView["tag_expiration_s"] == nil)
            let memberTeams = try #require(memberView["teams"] as? [String: [String: Any]])
            #expect(memberTeams["devs"]?["can_view"] as? Bool == true)
            #expect(memberTeams["owners"]?["can_view"] as? Bool == false)

            // An outsider sees the name only.
            let outsiderView = S.object(try await S.send(c, .get, "/api/v1/organization/acme", token: carol))
            #expect(outsiderView["is_member"] as? Bool == false)
            #expect(outsiderView["teams"] == nil)
            #expect(outsiderView["email"] as? String == "")
            #expect(try await S.send(c, .get, "/api/v1/organization/nope", token: carol).status == .notFound)
            // A user namespace is not an organization.
            #expect(try await S.send(c, .get, "/api/v1/organization/bob", token: carol).status == .notFound)

            // Settings: time machine choices only.
            let day = try await S.send(c, .put, "/api/v1/organization/acme", token: alice, json: #"{"tag_expiration_s":86400}"#)
            #expect(day.status == .ok)
            #expect(S.object(day)["tag_expiration_s"] as? Int == 86_400)
            for seconds in [0, 604_800, 1_209_600, 2_419_200] {
                #expect(try await S.send(c, .put, "/api/v1/organization/acme", token: alice, json: #"{"tag_expiration_s":\#(seconds)}"#).status == .ok)
            }
            #expect(try await accounts.organizationSettings(id: acme.id)?.tagExpirationSeconds == 2_419_200)
            for body in [#"{"tag_expiration_s":12345}"#, #"{"tag_expiration_s":-1}"#, #"{"tag_expiration_s":"1d"}"#,
                         #"{"email":"nope"}"#, #"{"email":"bob has spaces@x"}"#, "[1]", "garbage"] {
                let bad = try await S.send(c, .put, "/api/v1/organization/acme", token: alice, json: body)
                #expect(bad.status == .badRequest, "\(body)")
            }
            // An address another namespace uses is refused.
            try await accounts.createUser(name: "erin", passwordHash: "x", email: "erin@example.test")
            #expect(try await S.send(c, .put, "/api/v1/organization/acme", token: alice, json: #"{"email":"erin@example.test"}"#).status == .badRequest)
            let moved = try await S.send(c, .put, "/api/v1/organization/acme", token: alice, json: #"{"email":"new@acme.test"}"#)
            #expect(S.object(moved)["email"] as? String == "new@acme.test")
            #expect(try await accounts.namespace(named: "acme")?.email == "new@acme.test")

            // Only admins change settings.
            #expect(try await S.send(c, .put, "/api/v1/organization/acme", token: bobToken, json: #"{"tag_expiration_s":0}"#).status == .forbidden)
            #expect(try await S.send(c, .put, "/api/v1/organization/acme", token: carol, json: #"{"tag_expiration_s":0}"#).status == .forbidden)
            #expect(try await S.send(c, .put, "/api/v1/organization/acme", token: nil, json: #"{"tag_expiration_s":0}"#).status == .unauthorized)
            let narrow = try await S.token(registry, "alice", scopes: ["user:read", "user:admin"])
            #expect(try await S.send(c, .put, "/api/v1/organization/acme", token: narrow, json: #"{"tag_expiration_s":0}"#).status == .forbidden)
            #expect(try await accounts.organizationSettings(id: acme.id)?.tagExpirationSeconds == 2_419_200)
        }
    }

    @Test(arguments: TestBackend.available)
    func membersAndCollaborators(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let accounts = registry.services.accounts
            let alice = try await registry.createUser("alice")
            let bob = try await registry.createUser("bob")
            let carol = try await registry.createUser("carol")
            let dave = try await registry.createUser("dave")
            let aliceToken = try await S.token(registry, "alice")
            let bobToken = try await S.token(registry, "bob")
            let acme = try await accounts.createOrganization(name: "acme", email: nil, creatorID: alice.id)
            let devs = try await accounts.upsertTeam(organizationID: acme.id, name: "devs", role: .member)
            try await accounts.addTeamMember(teamID: devs, userID: bob.id)
            let bot = try await S.robot(registry, owner: "acme", short: "ci")
            try await accounts.addTeamMember(teamID: devs, userID: bot.id)
            let push = try #require(try await c.token(.init("alice"), scopes: ["repository:acme/app:pull,push"]))
            try await c.pushImage("acme/app", tag: "v1", token: push)
            let app = try #require(try await accounts.repository(RepositoryPath(namespace: "acme", name: "app")))
            try await accounts.setPermission(repositoryID: app.id, userID: bob.id, role: .write)
            try await accounts.setPermission(repositoryID: app.id, userID: carol.id, role: .read)
            try await accounts.setPermission(repositoryID: app.id, userID: bot.id, role: .read)

            // Members: humans only, with their teams and direct grants.
            let list = S.object(try await S.send(c, .get, "/api/v1/organization/acme/members", token: aliceToken))
            let members = try #require(list["members"] as? [[String: Any]])
            #expect(members.map { $0["name"] as? String } == ["alice", "bob"])
            let bobEntry = try #require(members.first { $0["name"] as? String == "bob" })
            #expect((bobEntry["teams"] as? [[String: Any]])?.map { $0["name"] as? String } == ["devs"])
            #expect(bobEntry["repositories"] as? [String] == ["app"])
            #expect(bobEntry["kind"] as? String == "user")
            #expect(bobEntry["is_robot"] as? Bool == false)
            // alice got an admin grant on the repository she pushed.
            #expect(members.first { $0["name"] as? String == "alice" }?["repositories"] as? [String] == ["app"])

            let one = S.object(try await S.send(c, .get, "/api/v1/organization/acme/members/bob", token: aliceToken))
            #expect(one["name"] as? String == "bob")
            #expect((one["teams"] as? [[String: Any]])?.first?["name"] as? String == "devs")
            let robot = S.object(try await S.send(c, .get, "/api/v1/organization/acme/members/acme+ci", token: aliceToken))
            #expect(robot["kind"] as? String == "robot")
            #expect(robot["is_robot"] as? Bool == true)
            #expect(try await S.send(c, .get, "/api/v1/organization/acme/members/acme%2Bci", token: aliceToken).status == .ok)
            for outsider in ["carol", "dave", "nobody", "acme"] {
                #expect(try await S.send(c, .get, "/api/v1/organization/acme/members/\(outsider)", token: aliceToken).status == .notFound, "\(outsider)")
            }
            // Members of the organization who are not admins cannot list members.
            #expect(try await S.send(c, .get, "/api/v1/organization/acme/members", token: bobToken).status == .forbidden)
            #expect(try await S.send(c, .get, "/api/v1/organization/acme/members/bob", token: bobToken).status == .forbidden)

            // Collaborators: direct grants, no team; robots and members are not collaborators.
            let collab = S.object(try await S.send(c, .get, "/api/v1/organization/acme/collaborators", token: aliceToken))
            let collaborators = try #require(collab["collaborators"] as? [[String: Any]])
            #expect(collaborators.map { $0["name"] as? String } == ["carol"])
            #expect(collaborators.first?["repositories"] as? [String] == ["app"])
            #expect(collaborators.first?["kind"] as? String == "user")
            #expect(try await S.send(c, .get, "/api/v1/organization/acme/collaborators", token: bobToken).status == .forbidden)

            // Removing a member drops their teams and direct grants.
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/members/bob", token: aliceToken).status == .noContent)
            #expect(try await accounts.teamRole(userID: bob.id, organizationID: acme.id) == nil)
            #expect(try await accounts.role(userID: bob.id, repository: app) == nil)
            #expect(try await S.send(c, .get, "/api/v1/organization/acme/members/bob", token: aliceToken).status == .notFound)
            // Collaborators can be removed the same way.
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/members/carol", token: aliceToken).status == .noContent)
            #expect(try await accounts.role(userID: carol.id, repository: app) == nil)
            // Robots are not removed through this route; unknown users are 404.
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/members/acme+ci", token: aliceToken).status == .notFound)
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/members/nobody", token: aliceToken).status == .notFound)

            // The last admin stays.
            let last = try await S.send(c, .delete, "/api/v1/organization/acme/members/alice", token: aliceToken)
            #expect(last.status == .badRequest)
            #expect(S.object(last)["error_type"] as? String == "invalid_request")
            #expect(try await accounts.teamRole(userID: alice.id, organizationID: acme.id) == .admin)
            // With a second admin, an admin may leave.
            let owners = try #require(try await accounts.orgTeam(organizationID: acme.id, name: "owners"))
            try await accounts.addTeamMember(teamID: owners.id, userID: dave.id)
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/members/alice", token: aliceToken).status == .noContent)
            #expect(try await accounts.teamRole(userID: alice.id, organizationID: acme.id) == nil)
            #expect(try await S.send(c, .get, "/api/v1/organization/acme/members", token: aliceToken).status == .forbidden)
            // A robot in an admin team does not count as the organization's admin.
            let daveToken = try await S.token(registry, "dave")
            try await accounts.addTeamMember(teamID: owners.id, userID: bot.id)
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/members/dave", token: daveToken).status == .badRequest)
        }
    }

    @Test(arguments: TestBackend.available)
    func deleteOrganization(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let accounts = registry.services.accounts
            let alice = try await registry.createUser("alice")
            let bob = try await registry.createUser("bob")
            let aliceToken = try await S.token(registry, "alice")
            let bobToken = try await S.token(registry, "bob")
            let adminToken = try await S.token(registry, TestRegistry.adminName)
            let acme = try await accounts.createOrganization(name: "acme", email: nil, creatorID: alice.id)
            let devs = try await accounts.upsertTeam(organizationID: acme.id, name: "devs", role: .creator)
            try await accounts.addTeamMember(teamID: devs, userID: bob.id)
            let bot = try await S.robot(registry, owner: "acme", short: "ci")
            let push = try #require(try await c.token(.init("alice"), scopes: ["repository:acme/app:pull,push"]))
            try await c.pushImage("acme/app", tag: "v1", token: push)
            _ = try await accounts.createPrototype(organizationID: acme.id, role: .read, activatingUserID: nil, delegateUserID: bob.id, delegateTeamID: nil)

            // Members who are not admins, and the instance superuser outside the organization, cannot.
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme", token: bobToken).status == .forbidden)
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme", token: adminToken).status == .forbidden)
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme", token: nil).status == .unauthorized)

            #expect(try await S.send(c, .delete, "/api/v1/organization/acme", token: aliceToken).status == .noContent)
            #expect(try await accounts.namespace(named: "acme") == nil)
            #expect(try await accounts.namespace(id: bot.id) == nil)
            #expect(try await accounts.repository(RepositoryPath(namespace: "acme", name: "app")) == nil)
            #expect(try await accounts.organizations(ofUser: bob.id).isEmpty)
            #expect(try await accounts.prototypes(organizationID: acme.id).isEmpty)
            #expect(try await S.send(c, .get, "/api/v1/organization/acme", token: aliceToken).status == .notFound)
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme", token: aliceToken).status == .notFound)
            let pull = try #require(try await c.token(.init("alice"), scopes: ["repository:acme/app:pull"]))
            // Nothing is granted on a repository that no longer exists.
            #expect(try await c.send(.get, "/v2/acme/app/manifests/v1", token: pull).status == .unauthorized)
            // The users themselves are untouched, and the name is free again.
            #expect(try await accounts.namespace(named: "bob") != nil)
            #expect(try await S.send(c, .post, "/api/v1/organization/", token: aliceToken, json: #"{"name":"acme"}"#).status == .created)

            // The default namespace stays.
            #expect(try await S.send(c, .delete, "/api/v1/organization/library", token: adminToken).status == .badRequest)
            #expect(try await accounts.namespace(named: "library") != nil)
        }
    }
}
