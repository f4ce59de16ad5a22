import Accounts
import Foundation
import HTTPTypes
import NIOCore
import Registry
import SlipwayTestSupport
import Testing

@Suite("Token endpoint, read-only mode, health and metrics")
struct TokenAndModesTests {
    @Test(arguments: TestBackend.available)
    func tokenEndpoint(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            try await registry.createUser("bob")
            // Login (no scope) with good and bad passwords.
            #expect(try await c.token(.init("admin"), scopes: []) != nil)
            let bad = try await c.client.executeRequest(
                uri: "/v2/auth?service=localhost", method: .get,
                headers: [.authorization: "Basic " + Data("admin:wrong-password".utf8).base64EncodedString()], body: nil)
            #expect(bad.status == .unauthorized)
            #expect(bad.ociErrorCode == "UNAUTHORIZED")
            let unknownUser = try await c.token(.init("nobody"), scopes: ["repository:admin/x:pull"])
            #expect(unknownUser == nil)
            // Anonymous login without scope is refused; with a scope it gets a token with no actions.
            let anon = try await c.client.executeRequest(uri: "/v2/auth?service=localhost", method: .get, headers: [:], body: nil)
            #expect(anon.status == .unauthorized)
            let anonToken = try #require(try await c.token(nil, scopes: ["repository:admin/x:pull"]))
            let claims = try await registry.services.tokens.verify(anonToken, audience: "localhost")
            #expect(claims.access.first?.actions == [])
            #expect(claims.sub.value == "(anonymous)")

            // Down-scoping: bob asks for push on admin's namespace and his own.
            let bobToken = try #require(try await c.token(.init("bob"), scopes: ["repository:admin/x:pull,push", "repository:bob/x:pull,push,*"]))
            let bobClaims = try await registry.services.tokens.verify(bobToken, audience: "localhost")
            #expect(bobClaims.actions(for: "admin/x").isEmpty)
            #expect(bobClaims.actions(for: "bob/x") == [.pull, .push, .delete])

            // A token for one audience is refused for another.
            await #expect(throws: (any Error).self) { try await registry.services.tokens.verify(bobToken, audience: "elsewhere:5000") }
            // Malformed scope → 400.
            let malformed = try await c.client.executeRequest(uri: "/v2/auth?service=localhost&scope=repository:Bad/Name:pull", method: .get,
                                                              headers: [.authorization: "Basic " + Data("admin:password123".utf8).base64EncodedString()], body: nil)
            #expect(malformed.status == .badRequest)
            // A garbage bearer token is a 401 with a challenge.
            let garbage = try await c.send(.get, "/v2/", token: "not-a-jwt")
            #expect(garbage.status == .unauthorized)
            #expect(garbage.headers[.wwwAuthenticate] == "Bearer realm=\"http://localhost/v2/auth\",service=\"localhost\"")
        }
    }

    @Test(arguments: TestBackend.available)
    func pushCreatesPrivateRepositoriesOnlyWhereAllowed(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            try await registry.createUser("bob")
            let token = try #require(try await c.token(.init("bob"), scopes: ["repository:bob/new:pull,push", "repository:library/x:pull,push",
                                                                               "repository:ghost/x:pull,push"]))
            try await c.pushImage("bob/new", tag: "v1", token: token)
            let repo = try #require(try await registry.services.accounts.repository(RepositoryPath(namespace: "bob", name: "new")))
            #expect(repo.visibility == .private)
            // bob is not in the library organization, and `ghost` does not exist.
            for repo in ["library/x", "ghost/x"] {
                let r = try await c.send(.post, "/v2/\(repo)/blobs/uploads/", token: token)
                #expect(r.status == .unauthorized, "\(repo): \(r.status)")
            }
            // The admin owns `library`, so single-segment names work for them.
            let adminToken = try #require(try await c.token(.init("admin"), scopes: ["repository:busybox:pull,push"]))
            try await c.pushImage("busybox", tag: "latest", token: adminToken)
            #expect(try await registry.services.accounts.repository(RepositoryPath(namespace: "library", name: "busybox")) != nil)
        }
    }

    @Test(arguments: TestBackend.available)
    func readOnlyMode(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.registry.readOnly = true }) { _, c in
            let token = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/app:pull,push,*"]))
            for (method, path) in [(HTTPRequest.Method.post, "/v2/admin/app/blobs/uploads/"), (.put, "/v2/admin/app/manifests/v1"),
                                   (.delete, "/v2/admin/app/manifests/v1")] {
                let r = try await c.send(method, path, token: token, headers: [.contentType: MediaTypes.ociManifest], body: ByteBuffer(string: "{}"))
                #expect(r.status == .methodNotAllowed, "\(method) \(path)")
                #expect(r.ociErrorCode == "DENIED")
                #expect(String(buffer: r.body).contains("read-only"))
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func healthAndMetrics(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { _, c in
            let health = try await c.send(.get, "/health/instance")
            #expect(health.status == .ok)
            #expect(String(buffer: health.body).contains("\"database\":true"))
            let token = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/m:pull,push"]))
            let digest = try await c.pushBlob("admin/m", Array(repeating: 1, count: 4096), token: token)
            _ = try await c.send(.get, "/v2/admin/m/blobs/\(digest)", token: token)
            let metrics = String(buffer: try await c.send(.get, "/metrics").body)
            for name in ["slipway_http_requests_total", "slipway_http_request_duration_seconds_bucket", "slipway_registry_bytes_pushed_total",
                         "slipway_registry_bytes_pulled_total", "slipway_registry_uploads_in_progress"] {
                #expect(metrics.contains(name), "missing \(name)")
            }
            #expect(metrics.contains("route=\"v2_blob\""))
        }
    }
}
