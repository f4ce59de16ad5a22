import Accounts
import Foundation
import HTTPTypes
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// The superuser API (Quay `superuser.py`), superusers from `auth.superUsers`, disabled users,
/// and the fields `GET /api/v1/user/` gained.
@Suite("API v1: superuser")
struct SuperuserAPITests {
    typealias S = OrgTestSupport

    static func basic(_ user: String, _ password: String) -> HTTPFields {
        [.authorization: "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()]
    }

    @Test(arguments: TestBackend.available)
    func superusersComeFromConfiguration(backend: TestBackend) async throws {
        // Configured: `boss` is superuser, the bootstrap `admin` no longer is.
        try await TestRegistry.with(backend, configure: { $0.auth.superUsers = ["boss"] }) { registry, c in
            try await registry.createUser("boss")
            try await registry.services.accounts.applyConfiguredSuperusers(["boss"])
            let boss = try await S.token(registry, "boss")
            let admin = try await S.token(registry, "admin")
            #expect(S.object(try await S.send(c, .get, "/api/v1/user/", token: boss))["super_user"] as? Bool == true)
            #expect(S.object(try await S.send(c, .get, "/api/v1/user/", token: admin))["super_user"] as? Bool == false)
            #expect(try await S.send(c, .get, "/api/v1/superuser/users/", token: boss).status == .ok)
            let refused = try await S.send(c, .get, "/api/v1/superuser/users/", token: admin)
            #expect(refused.status == .forbidden)
            #expect(S.object(refused)["error_type"] as? String == "insufficient_scope")
        }
        // Not configured: the admin created on first start is the superuser.
        try await TestRegistry.with(backend) { registry, c in
            let admin = try await S.token(registry, "admin")
            #expect(S.object(try await S.send(c, .get, "/api/v1/user/", token: admin))["super_user"] as? Bool == true)
        }
    }

    @Test(arguments: TestBackend.available)
    func userViewHasQuayFields(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let admin = try await S.token(registry, "admin")
            #expect(try await S.send(c, .put, "/api/v1/user/", token: admin, json: #"{"email":"Root@Example.com"}"#).status == .ok)
            let me = S.object(try await S.send(c, .get, "/api/v1/user/", token: admin))
            #expect(me["is_me"] as? Bool == true)
            #expect(me["email"] as? String == "Root@Example.com")
            #expect((me["logins"] as? [Any])?.isEmpty == true)
            #expect((me["prompts"] as? [Any])?.isEmpty == true)
            let avatar = try #require(me["avatar"] as? [String: Any])
            // The same avatar as the public profile and the superuser view: one implementation.
            let profile = S.object(try await S.send(c, .get, "/api/v1/users/admin", token: nil))
            let listed = S.object(try await S.send(c, .get, "/api/v1/superuser/users/admin", token: admin))
            for other in [profile["avatar"], listed["avatar"]] {
                let o = try #require(other as? [String: Any])
                #expect(o["hash"] as? String == avatar["hash"] as? String)
                #expect(o["color"] as? String == avatar["color"] as? String)
            }
            #expect(avatar["hash"] as? String == SHA256Hex.of("root@example.com"))
        }
    }

    @Test(arguments: TestBackend.available)
    func createDisableEnableAndDeleteUsers(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let admin = try await S.token(registry, "admin")
            let created = try await S.send(c, .post, "/api/v1/superuser/users/", token: admin, json: #"{"username":"dave","email":"dave@example.com"}"#)
            #expect(created.status == .ok, "\(String(buffer: created.body))")
            let password = try #require(S.object(created)["password"] as? String)
            #expect(S.object(created)["enabled"] as? Bool == true)
            // The generated password works at the registry; dave gets an API token and a robot.
            #expect(try await c.token(.init("dave", password), scopes: ["repository:dave/app:pull,push"]) != nil)
            let dave = try await S.token(registry, "dave")
            #expect(try await S.send(c, .get, "/api/v1/user/", token: dave).status == .ok)
            let robot = try await S.send(c, .put, "/api/v1/user/robots/ci", token: dave, json: "{}")
            #expect(robot.status == .created)
            let robotToken = try #require(S.object(robot)["token"] as? String)
            #expect(try await c.token(.init("dave+ci", robotToken), scopes: []) != nil)

            // Bad input: unknown user, bad name, taken name, bad e-mail, bad password.
            #expect(try await S.send(c, .get, "/api/v1/superuser/users/nobody", token: admin).status == .notFound)
            #expect(try await S.send(c, .put, "/api/v1/superuser/users/nobody", token: admin, json: #"{"enabled":false}"#).status == .notFound)
            #expect(try await S.send(c, .delete, "/api/v1/superuser/users/nobody", token: admin).status == .notFound)
            #expect(try await S.send(c, .post, "/api/v1/superuser/users/", token: admin, json: #"{"username":"Bad Name"}"#).status == .badRequest)
            #expect(try await S.send(c, .post, "/api/v1/superuser/users/", token: admin, json: #"{"username":"dave"}"#).status == .badRequest)
            #expect(try await S.send(c, .post, "/api/v1/superuser/users/", token: admin, json: #"{"username":"erin","email":"nope"}"#).status == .badRequest)
            #expect(try await S.send(c, .put, "/api/v1/superuser/users/dave", token: admin, json: #"{"password":"x"}"#).status == .badRequest)

            // Disabled: no registry login, no API token, no robot.
            let disabled = try await S.send(c, .put, "/api/v1/superuser/users/dave", token: admin, json: #"{"enabled":false}"#)
            #expect(disabled.status == .ok)
            #expect(S.object(disabled)["enabled"] as? Bool == false)
            #expect(try await c.token(.init("dave", password), scopes: ["repository:dave/app:pull"]) == nil)
            #expect(try await S.send(c, .get, "/api/v1/user/", token: dave).status == .unauthorized)
            #expect(try await c.token(.init("dave+ci", robotToken), scopes: []) == nil)
            let signin = try await S.send(c, .post, "/api/v1/signin", token: nil, json: #"{"username":"dave","password":"\#(password)"}"#)
            #expect(signin.status == .forbidden)
            let listed = try #require(S.object(try await S.send(c, .get, "/api/v1/superuser/users/", token: admin))["users"] as? [[String: Any]])
            #expect(listed.first { $0["username"] as? String == "dave" }?["enabled"] as? Bool == false)

            // Enabled again, with a new password and address.
            let enabled = try await S.send(c, .put, "/api/v1/superuser/users/dave", token: admin,
                                           json: #"{"enabled":true,"password":"another-password-1","email":"d@example.com"}"#)
            #expect(enabled.status == .ok)
            #expect(S.object(enabled)["email"] as? String == "d@example.com")
            #expect(try await c.token(.init("dave", "another-password-1"), scopes: ["repository:dave/app:pull"]) != nil)
            #expect(try await S.send(c, .get, "/api/v1/user/", token: dave).status == .ok)
            #expect(try await c.token(.init("dave+ci", robotToken), scopes: []) != nil)

            // Yourself: refused with a clear message.
            let selfDisable = try await S.send(c, .put, "/api/v1/superuser/users/admin", token: admin, json: #"{"enabled":false}"#)
            #expect(selfDisable.status == .badRequest)
            #expect((S.object(selfDisable)["error_message"] as? String)?.contains("your own account") == true)
            let selfDelete = try await S.send(c, .delete, "/api/v1/superuser/users/admin", token: admin)
            #expect(selfDelete.status == .badRequest)
            #expect((S.object(selfDelete)["error_message"] as? String)?.contains("your own account") == true)

            // Deleted through the same path as a user's own deletion.
            #expect(try await S.send(c, .delete, "/api/v1/superuser/users/dave", token: admin).status == .noContent)
            #expect(try await registry.services.accounts.namespace(named: "dave") == nil)
            #expect(try await registry.services.accounts.namespace(named: "dave+ci") == nil)

            // Each action is in the superuser's usage logs.
            let logs = try #require(S.object(try await S.send(c, .get, "/api/v1/superuser/logs", token: admin))["logs"] as? [[String: Any]])
            let kinds = Set(logs.compactMap { $0["kind"] as? String })
            for kind in ["user_create", "user_disable", "user_enable", "user_change_password", "user_change_email", "user_delete"] {
                #expect(kinds.contains(kind), "\(kind) missing from \(kinds)")
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func lastEnabledSuperuserCannotBeDisabled(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.auth.superUsers = ["admin", "boss"] }) { registry, c in
            let accounts = registry.services.accounts
            let boss = try await registry.createUser("boss")
            try await accounts.applyConfiguredSuperusers(["admin", "boss"])
            let admin = try #require(try await accounts.namespace(named: "admin"))
            try await accounts.setUserEnabled(userID: boss.id, false)
            await #expect(throws: DomainError.self) { try await accounts.setUserEnabled(userID: admin.id, false) }
            try await accounts.setUserEnabled(userID: boss.id, true)
            try await accounts.setUserEnabled(userID: admin.id, false)
            #expect(try await accounts.administeredUser(named: "admin")?.enabled == false)
        }
    }

    @Test(arguments: TestBackend.available)
    func organizationsStatusAndLogs(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let admin = try await S.token(registry, "admin")
            let alice = try await registry.createUser("alice")
            try await registry.services.accounts.createOrganization(name: "acme", email: "ops@acme.test", creatorID: alice.id)
            let orgs = try #require(S.object(try await S.send(c, .get, "/api/v1/superuser/organizations/", token: admin))["organizations"] as? [[String: Any]])
            #expect(orgs.compactMap { $0["name"] as? String }.contains("acme"))
            #expect(orgs.allSatisfy { $0["avatar"] is [String: Any] })
            #expect(try await S.send(c, .delete, "/api/v1/superuser/organizations/library", token: admin).status == .badRequest)
            #expect(try await S.send(c, .delete, "/api/v1/superuser/organizations/alice", token: admin).status == .notFound)
            #expect(try await S.send(c, .delete, "/api/v1/superuser/organizations/nope", token: admin).status == .notFound)
            #expect(try await S.send(c, .delete, "/api/v1/superuser/organizations/acme", token: admin).status == .noContent)
            #expect(try await registry.services.accounts.namespace(named: "acme") == nil)
            #expect(S.object(try await S.send(c, .get, "/api/v1/superuser/registrystatus", token: admin))["status"] as? String == "ready")
            let logs = try #require(S.object(try await S.send(c, .get, "/api/v1/superuser/logs", token: admin))["logs"] as? [[String: Any]])
            #expect(logs.contains { $0["kind"] as? String == "org_delete" })
            #expect(try await S.send(c, .get, "/api/v1/superuser/logs?starttime=bad", token: admin).status == .badRequest)
            // The panel's log view also charts and exports every entry.
            let aggregated = try #require(S.object(try await S.send(c, .get, "/api/v1/superuser/aggregatelogs", token: admin))["aggregated"] as? [[String: Any]])
            #expect(aggregated.contains { $0["kind"] as? String == "org_delete" })
            let export = try await S.send(c, .post, "/api/v1/superuser/exportlogs", token: admin, json: #"{"callback_email":"ops@example.com"}"#)
            #expect(export.status == .ok)
            #expect(S.object(export)["export_id"] as? String != nil)
        }
    }
}

enum SHA256Hex {
    static func of(_ text: String) -> String {
        Digest.sha256(of: Array(text.utf8)).hex
    }
}
