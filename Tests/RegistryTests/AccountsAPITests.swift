import Accounts
import Foundation
import HTTPTypes
import NIOCore
import Registry
import SlipwayTestSupport
import Testing

@Suite("API v1: user and organizations")
struct AccountsAPITests {
    static func apiToken(_ registry: TestRegistry, user: String, scopes: [String]) async throws -> String {
        let ns = try #require(try await registry.services.accounts.namespace(named: user))
        let token = APITokens.generate()
        try await registry.services.accounts.createAPIToken(userID: ns.id, tokenHash: APITokens.hash(token), scopes: scopes, description: "test")
        return token
    }

    @Test(arguments: TestBackend.available)
    func userAndOrganizations(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            try await registry.createUser("bob")
            let admin = try await Self.apiToken(registry, user: "admin", scopes: ["user:read", "user:admin"])
            let bobReadOnly = try await Self.apiToken(registry, user: "bob", scopes: ["user:read"])

            let me = try await c.send(.get, "/api/v1/user/", token: admin)
            #expect(me.status == .ok)
            let meJSON = try #require(me.json as? [String: Any])
            #expect(meJSON["username"] as? String == "admin")
            #expect((meJSON["organizations"] as? [[String: Any]])?.map { $0["name"] as? String } == ["library"])

            let anon = try await c.send(.get, "/api/v1/user/")
            #expect(anon.status == .unauthorized)
            let anonJSON = try #require(anon.json as? [String: Any])
            #expect(anonJSON["error_type"] as? String == "invalid_token")
            #expect(anonJSON["status"] as? Int == 401)
            #expect(anonJSON["type"] as? String == "http://localhost/api/v1/error/invalid_token")
            #expect(try await c.send(.get, "/api/v1/user/", token: "slw_forged").status == .unauthorized)

            let create = try await c.send(.post, "/api/v1/organization/", token: admin, headers: [.contentType: "application/json"],
                                          body: ByteBuffer(string: #"{"name":"acme","email":"ops@acme.test"}"#))
            #expect(create.status == .created)
            let dup = try await c.send(.post, "/api/v1/organization/", token: admin, headers: [.contentType: "application/json"],
                                       body: ByteBuffer(string: #"{"name":"acme"}"#))
            #expect(dup.status == .badRequest)
            #expect((dup.json as? [String: Any])?["error_type"] as? String == "invalid_request")
            for body in [#"{"name":"A"}"#, #"{"nom":"x"}"#, "not json"] {
                let bad = try await c.send(.post, "/api/v1/organization/", token: admin, headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
                #expect(bad.status == .badRequest, "\(body)")
            }
            // A token without user:admin cannot create organizations.
            let scoped = try await c.send(.post, "/api/v1/organization/", token: bobReadOnly, headers: [.contentType: "application/json"],
                                          body: ByteBuffer(string: #"{"name":"bobco"}"#))
            #expect(scoped.status == .forbidden)

            let org = try await c.send(.get, "/api/v1/organization/acme", token: admin)
            let orgJSON = try #require(org.json as? [String: Any])
            #expect(orgJSON["is_admin"] as? Bool == true)
            #expect((orgJSON["teams"] as? [String: Any])?.keys.sorted() == ["owners"])
            let outsider = try await c.send(.get, "/api/v1/organization/acme", token: bobReadOnly)
            #expect((outsider.json as? [String: Any])?["is_member"] as? Bool == false)
            #expect((outsider.json as? [String: Any])?["teams"] == nil)
            #expect(try await c.send(.get, "/api/v1/organization/nope", token: admin).status == .notFound)

            // The organization's owners can push into it; others cannot.
            let push = try #require(try await c.token(.init("admin"), scopes: ["repository:acme/app:pull,push"]))
            try await c.pushImage("acme/app", tag: "v1", token: push)
            let bobPush = try #require(try await c.token(.init("bob"), scopes: ["repository:acme/app2:pull,push"]))
            #expect(try await c.send(.post, "/v2/acme/app2/blobs/uploads/", token: bobPush).status == .unauthorized)
        }
    }
}
