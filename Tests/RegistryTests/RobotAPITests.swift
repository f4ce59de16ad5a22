import Accounts
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Robot accounts: the `/api/v1/.../robots` resource and registry login as a robot.
@Suite("API v1: robot accounts")
struct RobotAPITests {
    static func apiToken(_ registry: TestRegistry, user: String, scopes: [String] = Array(APICaller.allScopes)) async throws -> String {
        let ns = try #require(try await registry.services.accounts.namespace(named: user))
        let token = APITokens.generate()
        try await registry.services.accounts.createAPIToken(userID: ns.id, tokenHash: APITokens.hash(token), scopes: scopes, description: "test")
        return token
    }

    static func json(_ body: String) -> (HTTPFields, ByteBuffer) {
        ([.contentType: "application/json"], ByteBuffer(string: body))
    }

    static func put(_ c: RegistryClient, _ path: String, token: String, _ body: String? = nil) async throws -> TestResponse {
        if let body {
            let (h, b) = json(body)
            return try await c.send(.put, path, token: token, headers: h, body: b)
        }
        return try await c.send(.put, path, token: token)
    }

    /// The actions a registry token grants on `name`.
    static func actions(_ token: String?, _ name: String) throws -> [String]? {
        guard let token else { return nil }
        let parts = token.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var b64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        let payload = try #require(Data(base64Encoded: b64))
        let claims = try #require(try JSONSerialization.jsonObject(with: payload) as? [String: Any])
        let access = claims["access"] as? [[String: Any]] ?? []
        return access.first { $0["name"] as? String == name }?["actions"] as? [String] ?? []
    }

    static var rfc2822: Regex<(Substring, Substring, Substring)> { #/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} -0000$/# }

    static func isRobotToken(_ s: String?) -> Bool {
        guard let s else { return false }
        return s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) }
    }

    @Test(arguments: TestBackend.available)
    func secretBoxSealsUnderOneInstanceKey(backend: TestBackend) async throws {
        let registry = try await TestRegistry.start(backend)
        do {
            let box = registry.services.secretBox
            let sealed = try box.seal("SECRET", context: "robot:a+b")
            #expect(sealed.hasPrefix("v1.") && !sealed.contains("SECRET"))
            #expect(try box.open(sealed, context: "robot:a+b") == "SECRET")
            #expect(try box.seal("SECRET", context: "robot:a+b") != sealed)  // fresh nonce each time
            // Bound to its context, and tamper-evident.
            #expect(throws: (any Error).self) { try box.open(sealed, context: "robot:a+c") }
            var bytes = Array(sealed.utf8)
            bytes[bytes.count / 2] = bytes[bytes.count / 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            #expect(throws: (any Error).self) { try box.open(String(decoding: bytes, as: UTF8.self), context: "robot:a+b") }
            #expect(throws: (any Error).self) { try box.open("plain", context: "robot:a+b") }
            // The key is stored once: another load (a restart, another replica) opens what this one sealed.
            let again = try await SecretBox.load(keys: InstanceKeys(database: registry.database))
            #expect(try again.open(sealed, context: "robot:a+b") == "SECRET")
        } catch {
            await registry.stop()
            throw error
        }
        await registry.stop()
    }

    @Test(arguments: TestBackend.available)
    func userRobotLifecycle(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let admin = try await Self.apiToken(registry, user: "admin", scopes: ["user:admin"])

            let empty = try await c.send(.get, "/api/v1/user/robots", token: admin)
            #expect(empty.status == .ok)
            #expect(((empty.json as? [String: Any])?["robots"] as? [Any])?.isEmpty == true)

            let created = try await Self.put(c, "/api/v1/user/robots/ci", token: admin,
                                             #"{"description":"CI pipeline","unstructured_metadata":{"team":"build","n":1}}"#)
            #expect(created.status == .created)
            let robot = try #require(created.json as? [String: Any])
            #expect(robot["name"] as? String == "admin+ci")
            #expect(robot["description"] as? String == "CI pipeline")
            let token = try #require(robot["token"] as? String)
            #expect(Self.isRobotToken(token))
            #expect((robot["created"] as? String)?.wholeMatch(of: Self.rfc2822) != nil, "\(robot["created"] ?? "nil")")
            #expect(robot["last_accessed"] is NSNull)
            let metadata = try #require(robot["unstructured_metadata"] as? [String: Any])
            #expect(metadata["team"] as? String == "build")
            #expect(metadata["n"] as? Int == 1)

            // No body at all is fine; the description is then empty and the metadata an empty object.
            let bare = try await Self.put(c, "/api/v1/user/robots/bare", token: admin)
            #expect(bare.status == .created)
            #expect((bare.json as? [String: Any])?["description"] as? String == "")
            #expect(((bare.json as? [String: Any])?["unstructured_metadata"] as? [String: Any])?.isEmpty == true)

            // The token is stored sealed, never in the clear.
            let owner = try #require(try await registry.services.accounts.namespace(named: "admin"))
            let stored = try #require(try await registry.services.accounts.robot(named: "admin+ci", ownerID: owner.id))
            #expect(stored.tokenSealed?.hasPrefix("v1.") == true)
            #expect(stored.tokenSealed?.contains(token) == false)
            #expect(try registry.services.robotToken(stored) == token)

            let dup = try await Self.put(c, "/api/v1/user/robots/ci", token: admin)
            #expect(dup.status == .badRequest)
            #expect((dup.json as? [String: Any])?["error_message"] as? String == "Existing robot with name: admin+ci")

            for name in ["A", "x", "bad+name", "-ab", "ab-", "a..b", String(repeating: "a", count: 256)] {
                let bad = try await Self.put(c, "/api/v1/user/robots/\(name)", token: admin)
                #expect(bad.status == .badRequest, "\(name)")
                #expect((bad.json as? [String: Any])?["error_type"] as? String == "invalid_request")
            }
            for body in [#"{"description":"\#(String(repeating: "d", count: 256))"}"#, #"{"unstructured_metadata":[1,2]}"#,
                         #"{"description":5}"#, "not json"] {
                let bad = try await Self.put(c, "/api/v1/user/robots/other", token: admin, body)
                #expect(bad.status == .badRequest, "\(body)")
            }
            #expect(try await c.send(.get, "/api/v1/user/robots/other", token: admin).status == .notFound)

            let one = try await c.send(.get, "/api/v1/user/robots/ci", token: admin)
            #expect(one.status == .ok)
            #expect((one.json as? [String: Any])?["token"] as? String == token)
            #expect(((one.json as? [String: Any])?["unstructured_metadata"] as? [String: Any])?["team"] as? String == "build")

            let list = try #require(try await c.send(.get, "/api/v1/user/robots", token: admin).json as? [String: Any])
            let robots = try #require(list["robots"] as? [[String: Any]])
            #expect(robots.map { $0["name"] as? String } == ["admin+bare", "admin+ci"])
            #expect(robots.allSatisfy { Self.isRobotToken($0["token"] as? String) })
            #expect(robots.allSatisfy { ($0["teams"] as? [Any])?.isEmpty == true && ($0["repositories"] as? [Any])?.isEmpty == true })
            let noTokens = try #require(try await c.send(.get, "/api/v1/user/robots?token=false", token: admin).json as? [String: Any])
            #expect((noTokens["robots"] as? [[String: Any]])?.allSatisfy { $0["token"] == nil } == true)
            let limited = try #require(try await c.send(.get, "/api/v1/user/robots?limit=1", token: admin).json as? [String: Any])
            #expect((limited["robots"] as? [Any])?.count == 1)
            #expect(try await c.send(.get, "/api/v1/user/robots?limit=x", token: admin).status == .badRequest)

            let regenerated = try await c.send(.post, "/api/v1/user/robots/ci/regenerate", token: admin)
            #expect(regenerated.status == .ok)
            let newToken = try #require((regenerated.json as? [String: Any])?["token"] as? String)
            #expect(Self.isRobotToken(newToken) && newToken != token)
            #expect((try await c.send(.get, "/api/v1/user/robots/ci", token: admin).json as? [String: Any])?["token"] as? String == newToken)
            // The old token no longer logs in; the new one does.
            #expect(try await c.token(.init("admin+ci", token), scopes: []) == nil)
            #expect(try await c.token(.init("admin+ci", newToken), scopes: []) != nil)
            let touched = try await c.send(.get, "/api/v1/user/robots/ci", token: admin).json as? [String: Any]
            #expect((touched?["last_accessed"] as? String)?.wholeMatch(of: Self.rfc2822) != nil)

            #expect(try await c.send(.delete, "/api/v1/user/robots/ci", token: admin).status == .noContent)
            #expect(try await c.send(.get, "/api/v1/user/robots/ci", token: admin).status == .notFound)
            #expect(try await c.send(.delete, "/api/v1/user/robots/ci", token: admin).status == .notFound)
            #expect(try await c.send(.post, "/api/v1/user/robots/ci/regenerate", token: admin).status == .notFound)
            #expect(try await c.token(.init("admin+ci", newToken), scopes: []) == nil)

            // user:admin is required; user:read is not enough.
            let narrow = try await Self.apiToken(registry, user: "admin", scopes: ["user:read"])
            #expect(try await c.send(.get, "/api/v1/user/robots", token: narrow).status == .forbidden)
            #expect(try await Self.put(c, "/api/v1/user/robots/sneaky", token: narrow).status == .forbidden)
            #expect(try await c.send(.get, "/api/v1/user/robots").status == .unauthorized)
        }
    }

    @Test(arguments: TestBackend.available)
    func organizationRobotsAndIsolation(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let accounts = registry.services.accounts
            let orgAdmin = try await registry.createUser("orgadmin")
            let member = try await registry.createUser("member")
            try await registry.createUser("bob")
            let acme = try await accounts.createOrganization(name: "acme", email: nil, creatorID: orgAdmin.id)
            let readers = try await accounts.upsertTeam(organizationID: acme.id, name: "readers", role: .member)
            try await accounts.addTeamMember(teamID: readers, userID: member.id)
            let orgToken = try await Self.apiToken(registry, user: "orgadmin")
            let memberToken = try await Self.apiToken(registry, user: "member")
            let bob = try await Self.apiToken(registry, user: "bob")
            let admin = try await Self.apiToken(registry, user: "admin")

            let created = try await Self.put(c, "/api/v1/organization/acme/robots/deployer", token: orgToken, #"{"description":"deploys"}"#)
            #expect(created.status == .created)
            #expect((created.json as? [String: Any])?["name"] as? String == "acme+deployer")
            #expect(try await c.send(.get, "/api/v1/organization/acme/robots/deployer", token: orgToken).status == .ok)
            let listed = try #require(try await c.send(.get, "/api/v1/organization/acme/robots", token: orgToken).json as? [String: Any])
            #expect((listed["robots"] as? [[String: Any]])?.map { $0["name"] as? String } == ["acme+deployer"])

            // Members who are not admins, outsiders and the superuser (not in acme) are refused.
            for token in [memberToken, bob, admin] {
                #expect(try await c.send(.get, "/api/v1/organization/acme/robots", token: token).status == .forbidden)
                #expect(try await c.send(.get, "/api/v1/organization/acme/robots/deployer", token: token).status == .forbidden)
                #expect(try await c.send(.delete, "/api/v1/organization/acme/robots/deployer", token: token).status == .forbidden)
                #expect(try await c.send(.post, "/api/v1/organization/acme/robots/deployer/regenerate", token: token).status == .forbidden)
            }
            #expect(try await c.send(.get, "/api/v1/organization/nope/robots", token: orgToken).status == .notFound)
            // An org robot is not reachable through the user routes, not even by its org admin.
            #expect(try await c.send(.get, "/api/v1/user/robots/deployer", token: orgToken).status == .notFound)

            // A user's robot is invisible to everyone else.
            #expect(try await Self.put(c, "/api/v1/user/robots/ci", token: admin).status == .created)
            #expect(try await c.send(.get, "/api/v1/user/robots/ci", token: bob).status == .notFound)
            #expect(try await c.send(.delete, "/api/v1/user/robots/ci", token: bob).status == .notFound)
            #expect(try await c.send(.post, "/api/v1/user/robots/ci/regenerate", token: bob).status == .notFound)
            #expect(try await c.send(.get, "/api/v1/user/robots/ci/permissions", token: bob).status == .notFound)
            let bobList = try #require(try await c.send(.get, "/api/v1/user/robots", token: bob).json as? [String: Any])
            #expect((bobList["robots"] as? [Any])?.isEmpty == true)
            #expect(try await c.send(.get, "/api/v1/user/robots/ci", token: admin).status == .ok)
            // bob may have a robot of the same short name: it is bob+ci, a different account.
            #expect(try await Self.put(c, "/api/v1/user/robots/ci", token: bob).status == .created)
            // ... and an org may too.
            #expect(try await Self.put(c, "/api/v1/organization/acme/robots/ci", token: orgToken).status == .created)
            let names = try #require(try await c.send(.get, "/api/v1/organization/acme/robots", token: orgToken).json as? [String: Any])
            #expect((names["robots"] as? [[String: Any]])?.map { $0["name"] as? String } == ["acme+ci", "acme+deployer"])

            #expect(try await c.send(.delete, "/api/v1/organization/acme/robots/deployer", token: orgToken).status == .noContent)
            #expect(try await c.send(.get, "/api/v1/organization/acme/robots/deployer", token: orgToken).status == .notFound)
        }
    }

    @Test(arguments: TestBackend.available)
    func robotsDisallowed(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.auth.robotsDisallow = true }) { registry, c in
            let admin = try await Self.apiToken(registry, user: "admin")
            let refused = try await Self.put(c, "/api/v1/user/robots/ci", token: admin)
            #expect(refused.status == .badRequest)
            #expect((refused.json as? [String: Any])?["error_message"] as? String
                == "Cannot create robot account. Robot accounts have been disabled. Please contact your administrator.")
            #expect(try await c.send(.get, "/api/v1/user/robots/ci", token: admin).status == .notFound)

            // A robot that existed before the switch cannot log in.
            let owner = try #require(try await registry.services.accounts.namespace(named: "admin"))
            let (_, token) = try await registry.services.createRobot(owner: owner, shortName: "old")
            let login = try await c.client.executeRequest(
                uri: "/v2/auth?service=localhost&scope=repository:admin/mine:pull", method: .get,
                headers: [.authorization: "Basic " + Data("admin+old:\(token)".utf8).base64EncodedString()], body: nil)
            #expect(login.status == .unauthorized)
            #expect(String(buffer: login.body).contains("Robot accounts have been disabled. Please contact your administrator."))
        }
    }

    @Test(arguments: TestBackend.available)
    func grantsDecideWhatARobotMayDo(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let admin = try await Self.apiToken(registry, user: "admin")
            let push = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/mine:pull,push", "repository:admin/other:pull,push"]))
            try await c.pushImage("admin/mine", tag: "v1", token: push)
            try await c.pushImage("admin/other", tag: "v1", token: push)

            let created = try await Self.put(c, "/api/v1/user/robots/ci", token: admin)
            let robotToken = try #require((created.json as? [String: Any])?["token"] as? String)
            let robot = RegistryClient.Credentials("admin+ci", robotToken)
            let scopes = ["repository:admin/mine:pull,push", "repository:admin/other:pull", "repository:admin/fresh:pull,push"]

            // No grant yet: the robot logs in but gets nothing.
            let before = try #require(try await c.token(robot, scopes: scopes))
            #expect(try Self.actions(before, "admin/mine") == [])
            #expect(try await c.send(.get, "/v2/admin/mine/manifests/v1", token: before).status == .unauthorized)
            #expect(try await c.token(.init("admin+ci", "WRONG"), scopes: scopes) == nil)
            #expect(try await c.token(.init("admin+nope", robotToken), scopes: scopes) == nil)

            let grant = try await Self.put(c, "/api/v1/repository/admin/mine/permissions/user/admin+ci", token: admin, #"{"role":"read"}"#)
            #expect(grant.status == .ok)
            let view = try #require(grant.json as? [String: Any])
            #expect(view["role"] as? String == "read")
            #expect(view["name"] as? String == "admin+ci")
            #expect(view["is_robot"] as? Bool == true)
            #expect(view["is_org_member"] == nil)  // user namespace

            let granted = try #require(try await c.token(robot, scopes: scopes))
            #expect(try Self.actions(granted, "admin/mine") == ["pull"])
            #expect(try Self.actions(granted, "admin/other") == [])
            // Robots never create repositories in a user namespace.
            #expect(try Self.actions(granted, "admin/fresh") == [])
            #expect(try await c.send(.get, "/v2/admin/mine/manifests/v1", token: granted).status == .ok)
            #expect(try await c.send(.get, "/v2/admin/other/manifests/v1", token: granted).status == .unauthorized)
            #expect(try await c.send(.post, "/v2/admin/mine/blobs/uploads/", token: granted).status == .unauthorized)
            #expect(try await c.send(.post, "/v2/admin/fresh/blobs/uploads/", token: granted).status == .unauthorized)

            let perms = try #require(try await c.send(.get, "/api/v1/user/robots/ci/permissions", token: admin).json as? [String: Any])
            let entries = try #require(perms["permissions"] as? [[String: Any]])
            #expect(entries.count == 1)
            #expect((entries.first?["repository"] as? [String: Any])?["name"] as? String == "mine")
            #expect((entries.first?["repository"] as? [String: Any])?["is_public"] as? Bool == false)
            #expect(entries.first?["role"] as? String == "read")
            let withPerms = try #require(try await c.send(.get, "/api/v1/user/robots?permissions=true", token: admin).json as? [String: Any])
            #expect((withPerms["robots"] as? [[String: Any]])?.first?["repositories"] as? [String] == ["mine"])

            // Write lets it push.
            #expect(try await Self.put(c, "/api/v1/repository/admin/mine/permissions/user/admin+ci", token: admin, #"{"role":"write"}"#).status == .ok)
            let writer = try #require(try await c.token(robot, scopes: scopes))
            #expect(try Self.actions(writer, "admin/mine") == ["pull", "push"])
            try await c.pushImage("admin/mine", tag: "from-robot", token: writer)

            // Revoking the grant empties the next token.
            #expect(try await c.send(.delete, "/api/v1/repository/admin/mine/permissions/user/admin+ci", token: admin).status == .noContent)
            #expect(try Self.actions(try await c.token(robot, scopes: scopes), "admin/mine") == [])

            // Deleting the robot removes its grants and its login.
            #expect(try await Self.put(c, "/api/v1/repository/admin/mine/permissions/user/admin+ci", token: admin, #"{"role":"read"}"#).status == .ok)
            #expect(try Self.actions(try await c.token(robot, scopes: scopes), "admin/mine") == ["pull"])
            let robotID = try #require(try await registry.services.accounts.namespace(named: "admin+ci")).id
            #expect(try await c.send(.delete, "/api/v1/user/robots/ci", token: admin).status == .noContent)
            #expect(try await c.token(robot, scopes: scopes) == nil)
            let mine = try #require(try await registry.services.accounts.repository(RepositoryPath(namespace: "admin", name: "mine")))
            #expect(try await registry.services.accounts.repositoryUserGrants(repositoryID: mine.id).allSatisfy { $0.0.id != robotID })
            // A new robot of the same name starts with nothing.
            let again = try await Self.put(c, "/api/v1/user/robots/ci", token: admin)
            let againToken = try #require((again.json as? [String: Any])?["token"] as? String)
            #expect(try Self.actions(try await c.token(.init("admin+ci", againToken), scopes: scopes), "admin/mine") == [])
        }
    }

    @Test(arguments: TestBackend.available)
    func organizationRobotsCreateOnlyThroughCreatorTeams(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let accounts = registry.services.accounts
            let orgAdmin = try await registry.createUser("orgadmin")
            let acme = try await accounts.createOrganization(name: "acme", email: nil, creatorID: orgAdmin.id)
            try await accounts.createOrganization(name: "other", email: nil, creatorID: orgAdmin.id)
            let orgToken = try await Self.apiToken(registry, user: "orgadmin")

            let builder = try await Self.put(c, "/api/v1/organization/acme/robots/builder", token: orgToken)
            let builderToken = try #require((builder.json as? [String: Any])?["token"] as? String)
            let idle = try await Self.put(c, "/api/v1/organization/acme/robots/idle", token: orgToken)
            let idleToken = try #require((idle.json as? [String: Any])?["token"] as? String)
            let builderID = try #require(try await accounts.namespace(named: "acme+builder")).id
            let creators = try await accounts.upsertTeam(organizationID: acme.id, name: "creators", role: .creator)
            try await accounts.addTeamMember(teamID: creators, userID: builderID)

            let scopes = ["repository:acme/made-by-robot:pull,push", "repository:other/x:pull,push"]
            let built = try #require(try await c.token(.init("acme+builder", builderToken), scopes: scopes))
            #expect(try Self.actions(built, "acme/made-by-robot") == ["pull", "push"])
            // Never in another organization.
            #expect(try Self.actions(built, "other/x") == [])
            try await c.pushImage("acme/made-by-robot", tag: "v1", token: built)
            let idleIssued = try #require(try await c.token(.init("acme+idle", idleToken), scopes: scopes))
            #expect(try Self.actions(idleIssued, "acme/made-by-robot") == [])

            // The list shows team membership; deleting the robot removes it from the team.
            let listed = try #require(try await c.send(.get, "/api/v1/organization/acme/robots?permissions=true", token: orgToken).json as? [String: Any])
            let entry = try #require((listed["robots"] as? [[String: Any]])?.first { $0["name"] as? String == "acme+builder" })
            #expect((entry["teams"] as? [[String: Any]])?.map { $0["name"] as? String } == ["creators"])
            #expect(((entry["teams"] as? [[String: Any]])?.first?["avatar"] as? [String: Any])?["kind"] as? String == "team")
            #expect(try await c.send(.delete, "/api/v1/organization/acme/robots/builder", token: orgToken).status == .noContent)
            #expect(try await accounts.teamRole(userID: builderID, organizationID: acme.id) == nil)
        }
    }

    @Test(arguments: TestBackend.available)
    func bulkRobotPermissions(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let orgAdmin = try await registry.createUser("orgadmin")
            try await registry.services.accounts.createOrganization(name: "acme", email: nil, creatorID: orgAdmin.id)
            let orgToken = try await Self.apiToken(registry, user: "orgadmin")
            let push = try #require(try await c.token(.init("orgadmin"), scopes: ["repository:acme/app:pull,push", "repository:acme/lib:pull,push"]))
            try await c.pushImage("acme/app", tag: "v1", token: push)
            try await c.pushImage("acme/lib", tag: "v1", token: push)
            #expect(try await Self.put(c, "/api/v1/organization/acme/robots/ci", token: orgToken).status == .created)
            let path = "/api/v1/organization/acme/robots/ci/permissions"

            func roles(_ response: TestResponse) -> [String: String] {
                let entries = (response.json as? [String: Any])?["permissions"] as? [[String: Any]] ?? []
                var out: [String: String] = [:]
                for e in entries { out[(e["repository"] as? [String: Any])?["name"] as? String ?? "?"] = e["role"] as? String }
                return out
            }

            let set = try await Self.put(c, path, token: orgToken,
                                         #"{"permissions":[{"repository":"app","role":"write"},{"repository":"lib","role":"read"}]}"#)
            #expect(set.status == .ok)
            #expect(roles(set) == ["app": "write", "lib": "read"])
            #expect(roles(try await c.send(.get, path, token: orgToken)) == ["app": "write", "lib": "read"])

            let removed = try await Self.put(c, path, token: orgToken, #"{"permissions":[{"repository":"app","role":"none"}]}"#)
            #expect(roles(removed) == ["lib": "read"])

            // All or nothing: one unknown repository rejects the whole request.
            let unknown = try await Self.put(c, path, token: orgToken,
                                             #"{"permissions":[{"repository":"app","role":"admin"},{"repository":"ghost","role":"read"}]}"#)
            #expect(unknown.status == .badRequest)
            #expect((unknown.json as? [String: Any])?["error_message"] as? String == "Repository not found: ghost")
            #expect(roles(try await c.send(.get, path, token: orgToken)) == ["lib": "read"])
            for body in [#"{"permissions":[{"repository":"app","role":"owner"}]}"#, #"{"permissions":[{"repository":"../x","role":"read"}]}"#,
                         #"{"permissions":{}}"#, #"{}"#] {
                #expect(try await Self.put(c, path, token: orgToken, body).status == .badRequest, "\(body)")
            }
            #expect(try await Self.put(c, "/api/v1/organization/acme/robots/nope/permissions", token: orgToken,
                                       #"{"permissions":[]}"#).status == .notFound)

            // A user's robot reaches only the user's repositories.
            let admin = try await Self.apiToken(registry, user: "admin")
            let adminPush = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/mine:pull,push"]))
            try await c.pushImage("admin/mine", tag: "v1", token: adminPush)
            #expect(try await Self.put(c, "/api/v1/user/robots/ci", token: admin).status == .created)
            let userSet = try await Self.put(c, "/api/v1/user/robots/ci/permissions", token: admin, #"{"permissions":[{"repository":"mine","role":"admin"}]}"#)
            #expect(roles(userSet) == ["mine": "admin"])
            #expect(try await Self.put(c, "/api/v1/user/robots/ci/permissions", token: admin,
                                       #"{"permissions":[{"repository":"app","role":"read"}]}"#).status == .badRequest)
        }
    }
}
