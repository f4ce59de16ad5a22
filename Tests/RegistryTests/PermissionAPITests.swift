import Accounts
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Registry
import SlipwayTestSupport
import Testing

/// Repository permissions: `/api/v1/repository/{repository}/permissions/...`.
@Suite("API v1: repository permissions")
struct PermissionAPITests {
    /// acme (orgadmin in owners; bob in team readers with read on acme/app), carol outside it,
    /// robot acme+ci, bob's own robot bob+x, and admin/mine.
    struct World {
        let acme: Namespace
        let app: Repository
        let orgToken: String
        let readers: Int64
    }

    static func world(_ registry: TestRegistry, _ c: RegistryClient) async throws -> World {
        let accounts = registry.services.accounts
        let orgAdmin = try await registry.createUser("orgadmin")
        let bob = try await registry.createUser("bob")
        let dave = try await registry.createUser("dave")
        try await registry.createUser("carol")
        let acme = try await accounts.createOrganization(name: "acme", email: nil, creatorID: orgAdmin.id)
        try await accounts.createOrganization(name: "otherorg", email: nil, creatorID: orgAdmin.id)
        let push = try #require(try await c.token(.init("orgadmin"), scopes: ["repository:acme/app:pull,push"]))
        try await c.pushImage("acme/app", tag: "v1", token: push)
        let app = try #require(try await accounts.repository(RepositoryPath(namespace: "acme", name: "app")))
        let readers = try await accounts.upsertTeam(organizationID: acme.id, name: "readers", role: .member)
        try await accounts.addTeamMember(teamID: readers, userID: bob.id)
        try await accounts.addTeamMember(teamID: readers, userID: dave.id)
        try await accounts.setTeamPermission(repositoryID: app.id, teamID: readers, role: .read)
        _ = try await registry.services.createRobot(owner: acme, shortName: "ci")
        _ = try await registry.services.createRobot(owner: bob, shortName: "x")
        let orgToken = try await RobotAPITests.apiToken(registry, user: "orgadmin")
        return World(acme: acme, app: app, orgToken: orgToken, readers: readers)
    }

    @Test(arguments: TestBackend.available)
    func userAndRobotPermissions(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let w = try await Self.world(registry, c)
            let base = "/api/v1/repository/acme/app/permissions/user/"
            func put(_ who: String, _ body: String) async throws -> TestResponse {
                try await RobotAPITests.put(c, base + who, token: w.orgToken, body)
            }

            let carol = try await put("carol", #"{"role":"write"}"#)
            #expect(carol.status == .ok)
            let carolView = try #require(carol.json as? [String: Any])
            #expect(carolView["role"] as? String == "write")
            #expect(carolView["name"] as? String == "carol")
            #expect(carolView["is_robot"] as? Bool == false)
            #expect(carolView["is_org_member"] as? Bool == false)
            #expect((carolView["avatar"] as? [String: Any])?["kind"] as? String == "user")
            #expect(((try await put("bob", #"{"role":"read"}"#)).json as? [String: Any])?["is_org_member"] as? Bool == true)
            let robot = try #require(try await put("acme+ci", #"{"role":"admin"}"#).json as? [String: Any])
            #expect(robot["is_robot"] as? Bool == true)
            #expect(robot["is_org_member"] as? Bool == true)

            // The grant is what the registry sees.
            let carolNS = try #require(try await registry.services.accounts.namespace(named: "carol"))
            #expect(try await registry.services.accounts.role(userID: carolNS.id, repository: w.app) == .write)

            for (who, body, message) in [
                ("bob+x", #"{"role":"read"}"#, "Cannot add robot bob+x under namespace acme"),
                ("acme", #"{"role":"read"}"#, "Namespace owner must always be admin."),
                ("nosuchuser", #"{"role":"read"}"#, "Invalid username: nosuchuser"),
                ("otherorg", #"{"role":"read"}"#, "Invalid username: otherorg"),
                ("carol", #"{"role":"owner"}"#, "'owner' is not one of ['read', 'write', 'admin']"),
            ] {
                let bad = try await put(who, body)
                #expect(bad.status == .badRequest, "\(who) \(body)")
                #expect((bad.json as? [String: Any])?["error_message"] as? String == message)
            }
            for body in [#"{}"#, "nope", #"{"role":1}"#] {
                #expect(try await put("carol", body).status == .badRequest, "\(body)")
            }

            let list = try #require(try await c.send(.get, base, token: w.orgToken).json as? [String: Any])
            let permissions = try #require(list["permissions"] as? [String: [String: Any]])
            // orgadmin holds admin since pushing created the repository.
            #expect(Set(permissions.keys) == ["acme+ci", "bob", "carol", "orgadmin"])
            #expect(permissions["carol"]?["role"] as? String == "write")
            #expect(permissions["acme+ci"]?["is_robot"] as? Bool == true)
            #expect(permissions["orgadmin"]?["is_org_member"] as? Bool == true)

            #expect((try await c.send(.get, base + "carol", token: w.orgToken).json as? [String: Any])?["role"] as? String == "write")
            #expect(try await c.send(.get, base + "dave", token: w.orgToken).status == .badRequest)
            #expect(try await c.send(.get, base + "ghost", token: w.orgToken).status == .badRequest)

            // Transitive: the direct grant and the team's.
            func transitive(_ who: String) async throws -> (HTTPResponse.Status, [String]) {
                let r = try await c.send(.get, base + who + "/transitive", token: w.orgToken)
                let roles = ((r.json as? [String: Any])?["permissions"] as? [[String: Any]])?.compactMap { $0["role"] as? String } ?? []
                return (r.status, roles.sorted())
            }
            #expect(try await transitive("bob") == (.ok, ["read", "read"]))
            #expect(try await transitive("dave") == (.ok, ["read"]))
            #expect(try await transitive("carol") == (.ok, ["write"]))
            #expect(try await transitive("ghost").0 == .notFound)

            #expect(try await c.send(.delete, base + "carol", token: w.orgToken).status == .noContent)
            #expect(try await c.send(.delete, base + "carol", token: w.orgToken).status == .badRequest)
            #expect(try await c.send(.get, base + "carol", token: w.orgToken).status == .badRequest)
            #expect(try await transitive("carol").0 == .notFound)
            #expect(try await c.send(.delete, base + "acme", token: w.orgToken).status == .badRequest)
            #expect(try await registry.services.accounts.role(userID: carolNS.id, repository: w.app) == nil)

            // Only repository admins manage permissions: bob (read) is refused, carol no longer sees the repository.
            let bobToken = try await RobotAPITests.apiToken(registry, user: "bob")
            let carolToken = try await RobotAPITests.apiToken(registry, user: "carol")
            #expect(try await c.send(.get, base, token: bobToken).status == .forbidden)
            #expect(try await RobotAPITests.put(c, base + "bob", token: bobToken, #"{"role":"admin"}"#).status == .forbidden)
            #expect(try await c.send(.get, base, token: carolToken).status == .notFound)
            #expect(try await c.send(.get, base).status == .unauthorized)
            #expect(try await c.send(.get, "/api/v1/repository/acme/ghost/permissions/user/", token: w.orgToken).status == .notFound)
        }
    }

    @Test(arguments: TestBackend.available)
    func teamPermissions(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let w = try await Self.world(registry, c)
            let accounts = registry.services.accounts
            let base = "/api/v1/repository/acme/app/permissions/team/"
            let other = try #require(try await accounts.namespace(named: "otherorg"))
            try await accounts.upsertTeam(organizationID: other.id, name: "outsiders", role: .member)

            let list = try #require(try await c.send(.get, base, token: w.orgToken).json as? [String: Any])
            let permissions = try #require(list["permissions"] as? [String: [String: Any]])
            #expect(Set(permissions.keys) == ["readers"])
            #expect(permissions["readers"]?["role"] as? String == "read")
            #expect(permissions["readers"]?["name"] as? String == "readers")
            #expect((permissions["readers"]?["avatar"] as? [String: Any])?["kind"] as? String == "team")

            let changed = try await RobotAPITests.put(c, base + "readers", token: w.orgToken, #"{"role":"write"}"#)
            #expect(changed.status == .ok)
            #expect((changed.json as? [String: Any])?["role"] as? String == "write")
            #expect((changed.json as? [String: Any])?["name"] as? String == "readers")
            let bob = try #require(try await accounts.namespace(named: "bob"))
            #expect(try await accounts.role(userID: bob.id, repository: w.app) == .write)
            #expect((try await c.send(.get, base + "readers", token: w.orgToken).json as? [String: Any])?["role"] as? String == "write")

            for (team, message) in [("nosuch", "No team nosuch in organization acme"), ("outsiders", "No team outsiders in organization acme")] {
                let bad = try await RobotAPITests.put(c, base + team, token: w.orgToken, #"{"role":"read"}"#)
                #expect(bad.status == .badRequest)
                #expect((bad.json as? [String: Any])?["error_message"] as? String == message)
            }
            #expect(try await RobotAPITests.put(c, base + "readers", token: w.orgToken, #"{"role":"creator"}"#).status == .badRequest)
            #expect(try await c.send(.get, base + "outsiders", token: w.orgToken).status == .badRequest)

            #expect(try await c.send(.delete, base + "readers", token: w.orgToken).status == .noContent)
            #expect(try await c.send(.delete, base + "readers", token: w.orgToken).status == .badRequest)
            #expect(try await c.send(.get, base + "readers", token: w.orgToken).status == .badRequest)
            #expect(try await accounts.role(userID: bob.id, repository: w.app) == nil)

            // User namespaces have no teams.
            let admin = try await RobotAPITests.apiToken(registry, user: "admin")
            let push = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/mine:pull,push"]))
            try await c.pushImage("admin/mine", tag: "v1", token: push)
            let userList = try await c.send(.get, "/api/v1/repository/admin/mine/permissions/team/", token: admin)
            #expect(userList.status == .ok)
            #expect(((userList.json as? [String: Any])?["permissions"] as? [String: Any])?.isEmpty == true)
            #expect(try await RobotAPITests.put(c, "/api/v1/repository/admin/mine/permissions/team/owners", token: admin,
                                                #"{"role":"read"}"#).status == .badRequest)
            // A user repository's list of user grants has no is_org_member.
            #expect(try await RobotAPITests.put(c, "/api/v1/repository/admin/mine/permissions/user/bob", token: admin,
                                                #"{"role":"read"}"#).status == .ok)
            let users = try #require(try await c.send(.get, "/api/v1/repository/admin/mine/permissions/user/", token: admin).json as? [String: Any])
            #expect((users["permissions"] as? [String: [String: Any]])?["bob"]?.keys.contains("is_org_member") == false)
        }
    }
}
