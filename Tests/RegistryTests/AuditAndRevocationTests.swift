import Accounts
import Foundation
import HTTPTypes
import NIOCore
import Registry
import SlipwayTestSupport
import Testing

@Suite("Revocation of issued registry tokens and usage logs of account actions")
struct AuditAndRevocationTests {
    @Test(arguments: TestBackend.available)
    func deletedUsersLoseIssuedTokens(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.auth.revocationCheckSeconds = 0 }) { registry, c in
            let bob = try await registry.createUser("bob")
            let token = try #require(try await c.token(.init("bob"), scopes: ["repository:bob/app:pull,push"]))
            try await c.pushImage("bob/app", tag: "v1", token: token)
            _ = try await registry.services.store.database.transaction { db in
                try await db.raw("DELETE FROM namespaces WHERE id = \(bind: bob.id)").run()
            }
            // The JWT is still inside its lifetime, but the account behind it is gone.
            let after = try await c.send(.get, "/v2/", token: token)
            #expect(after.status == .unauthorized)
            #expect(String(buffer: after.body).contains("no longer exists"))
        }
    }

    @Test(arguments: TestBackend.available)
    func accountActionsAreLogged(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let ns = try #require(try await registry.services.accounts.namespace(named: "admin"))
            let api = APITokens.generate()
            try await registry.services.accounts.createAPIToken(userID: ns.id, tokenHash: APITokens.hash(api), scopes: Array(APICaller.allScopes), description: "t")
            let created = try await c.send(.put, "/api/v1/user/robots/ci", token: api, headers: [.contentType: "application/json"],
                                           body: ByteBuffer(string: #"{"description":"CI"}"#))
            #expect(created.status == .created || created.status == .ok)
            _ = try await c.token(.init("admin"), scopes: [])  // a `podman login`
            let logs = try await c.send(.get, "/api/v1/user/logs", token: api)
            let entries = try #require((logs.json as? [String: Any])?["logs"] as? [[String: Any]])
            let robot = try #require(entries.first { $0["kind"] as? String == "create_robot" })
            #expect((robot["metadata"] as? [String: Any])?["robot_shortname"] as? String == "ci")
            #expect(entries.contains { $0["kind"] as? String == "login_success" })
        }
    }
}
