import Accounts
import Foundation
import HTTPTypes
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Usage logs of actions that happen outside the `/api/v1` handlers that log themselves:
/// deletes through `/v2`, repositories created by a push, and web sign-ins (good and bad).
@Suite("Usage logs: /v2 deletes, repositories created on push, web sign-in")
struct AuditCoverageTests {
    static let jsonHeaders: HTTPFields = [.contentType: "application/json"]

    static func apiToken(_ registry: TestRegistry, _ user: String) async throws -> String {
        let ns = try #require(try await registry.services.accounts.namespace(named: user))
        let token = APITokens.generate()
        try await registry.services.accounts.createAPIToken(userID: ns.id, tokenHash: APITokens.hash(token), scopes: Array(APICaller.allScopes), description: "t")
        return token
    }

    static func entries(_ c: RegistryClient, _ path: String, token: String) async throws -> [[String: Any]] {
        let r = try await c.send(.get, path, token: token)
        #expect(r.status == .ok, "\(path): \(String(buffer: r.body))")
        return try #require((r.json as? [String: Any])?["logs"] as? [[String: Any]], "\(String(buffer: r.body))")
    }

    static func metadata(_ entry: [String: Any]) -> [String: String] { entry["metadata"] as? [String: String] ?? [:] }
    static func performer(_ entry: [String: Any]) -> String? { (entry["performer"] as? [String: Any])?["name"] as? String }

    @Test(arguments: TestBackend.available)
    func v2DeletesByTagAndByDigestLogDeleteTag(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let admin = try await Self.apiToken(registry, "admin")
            let token = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/del:pull,push,*"]))
            let (shared, sharedBytes) = try await c.pushImage("admin/del", tag: "a1", token: token)
            #expect(try await c.send(.put, "/v2/admin/del/manifests/a2", token: token, headers: [.contentType: MediaTypes.ociManifest],
                                     body: ByteBuffer(bytes: sharedBytes)).status == .created)
            let (single, _) = try await c.pushImage("admin/del", tag: "b", token: token)
            // `c` moves on, leaving its first manifest untagged.
            let (untagged, _) = try await c.pushImage("admin/del", tag: "c", token: token)
            try await c.pushImage("admin/del", tag: "c", token: token)
            let from: HTTPFields = [.init("X-Forwarded-For")!: "198.51.100.9"]

            // `skopeo delete docker://…:b` deletes by tag; then a delete by digest ends both tags on it.
            #expect(try await c.send(.delete, "/v2/admin/del/manifests/b", token: token, headers: from).status == .accepted)
            #expect(try await c.send(.delete, "/v2/admin/del/manifests/\(shared)", token: token, headers: from).status == .accepted)
            // A manifest no live tag points at deletes without a tag log; unknown ones are 404 and log nothing.
            #expect(try await c.send(.delete, "/v2/admin/del/manifests/\(untagged)", token: token, headers: from).status == .accepted)
            #expect(try await c.send(.delete, "/v2/admin/del/manifests/b", token: token, headers: from).status == .notFound)

            let logs = try await Self.entries(c, "/api/v1/repository/admin/del/logs", token: admin)
            let deletes = logs.filter { $0["kind"] as? String == "delete_tag" }
            let seen = Set(deletes.map { "\(Self.metadata($0)["tag"] ?? "?")@\(Self.metadata($0)["manifest_digest"] ?? "?")" })
            #expect(seen == ["b@\(single)", "a1@\(shared)", "a2@\(shared)"], "\(deletes)")
            #expect(deletes.count == 3)
            #expect(deletes.allSatisfy { Self.metadata($0)["namespace"] == "admin" && Self.metadata($0)["repo"] == "del" })
            // Who and from where: the dispatcher passes the caller (with its ip) to the handler.
            #expect(deletes.allSatisfy { Self.performer($0) == "admin" })
            #expect(deletes.allSatisfy { $0["ip"] as? String == "198.51.100.9" })
            // The tag list agrees: only `c` is still live.
            let live = try await c.send(.get, "/api/v1/repository/admin/del/tag/?onlyActiveTags=true", token: admin)
            #expect(((live.json as? [String: Any])?["tags"] as? [[String: Any]])?.map { $0["name"] as? String } == ["c"], "\(String(buffer: live.body))")
        }
    }

    @Test(arguments: TestBackend.available)
    func expiredTagsKeepTheirExpiryWhenTheirManifestIsDeleted(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let admin = try await Self.apiToken(registry, "admin")
            let token = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/exp:pull,push,*"]))
            let (digest, _) = try await c.pushImage("admin/exp", tag: "old", token: token)
            let repo = try #require(try await registry.services.accounts.repository(RepositoryPath(namespace: "admin", name: "exp")))
            let expiredAt = Clock.nowMillis() - 60_000
            _ = try await registry.services.store.database.transaction { db in
                try await db.raw("UPDATE tags SET expiration = \(bind: expiredAt) WHERE repository_id = \(bind: repo.id) AND name = 'old'").run()
            }
            #expect(try await c.send(.delete, "/v2/admin/exp/manifests/\(digest)", token: token).status == .accepted)
            // An already expired tag is not "removed" by the delete: no delete_tag, and its end stays its expiry.
            let logs = try await Self.entries(c, "/api/v1/repository/admin/exp/logs", token: admin)
            #expect(!logs.contains { $0["kind"] as? String == "delete_tag" })
            let history = try await c.send(.get, "/api/v1/repository/admin/exp/tag/?specificTag=old", token: admin)
            let row = try #require(((history.json as? [String: Any])?["tags"] as? [[String: Any]])?.first)
            #expect((row["end_ts"] as? Int).map(Int64.init) == expiredAt / 1000)
        }
    }

    @Test(arguments: TestBackend.available)
    func repositoryCreatedByAPushLogsCreateRepo(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let admin = try await Self.apiToken(registry, "admin")
            let token = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/pushed:pull,push"]))
            try await c.pushImage("admin/pushed", tag: "v1", token: token)
            try await c.pushImage("admin/pushed", tag: "v2", token: token)
            let logs = try await Self.entries(c, "/api/v1/repository/admin/pushed/logs", token: admin)
            let creates = logs.filter { $0["kind"] as? String == "create_repo" }
            #expect(creates.count == 1, "one create for the first push only: \(logs.map { $0["kind"] ?? "" })")
            let create = try #require(creates.first)
            #expect(Self.performer(create) == "admin")
            #expect(Self.metadata(create)["namespace"] == "admin")
            #expect(Self.metadata(create)["repo"] == "pushed")
            // It is the oldest entry: the repository existed before its first push was logged.
            #expect(logs.last?["kind"] as? String == "create_repo")

            // An organization repository created by a push: logged under the organization.
            let org = try await c.send(.post, "/api/v1/organization/", token: admin, headers: Self.jsonHeaders,
                                       body: ByteBuffer(string: #"{"name":"acme","email":"acme@example.com"}"#))
            #expect(org.status == .created, "\(String(buffer: org.body))")
            let orgToken = try #require(try await c.token(.init("admin"), scopes: ["repository:acme/tool:pull,push"]))
            try await c.pushImage("acme/tool", tag: "v1", token: orgToken)
            let orgLogs = try await Self.entries(c, "/api/v1/organization/acme/logs", token: admin)
            let orgCreate = try #require(orgLogs.first { $0["kind"] as? String == "create_repo" }, "\(orgLogs)")
            #expect(Self.metadata(orgCreate)["repo"] == "tool")
            #expect(Self.performer(orgCreate) == "admin")
            // A repository created through the API is not logged a second time by its first push.
            #expect(try await c.send(.post, "/api/v1/repository", token: admin, headers: Self.jsonHeaders,
                                     body: ByteBuffer(string: #"{"repository":"made","visibility":"private","description":""}"#)).status == .created)
            let madeToken = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/made:pull,push"]))
            try await c.pushImage("admin/made", tag: "v1", token: madeToken)
            let made = try await Self.entries(c, "/api/v1/repository/admin/made/logs", token: admin)
            #expect(made.filter { $0["kind"] as? String == "create_repo" }.count == 1)
        }
    }

    @Test(arguments: TestBackend.available)
    func webSignInLogsSuccessAndFailureWithoutThePassword(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            try await registry.createUser("carol")
            let carol = try await Self.apiToken(registry, "carol")
            let wrong = "Wr0ng-horse-battery-\(UUID().uuidString)"
            let headers: HTTPFields = [.contentType: "application/json", .init("X-Forwarded-For")!: "203.0.113.7", .userAgent: "slipway-test/1"]
            func signIn(_ user: String, _ password: String) async throws -> HTTPResponse.Status {
                try await c.send(.post, "/api/v1/signin", headers: headers,
                                 body: ByteBuffer(string: #"{"username":"\#(user)","password":"\#(password)"}"#)).status
            }
            #expect(try await signIn("carol", wrong) == .forbidden)
            #expect(try await signIn("carol", TestRegistry.password) == .ok)
            #expect(try await signIn("nobody-here", wrong) == .forbidden)

            let response = try await c.send(.get, "/api/v1/user/logs", token: carol)
            #expect(!String(buffer: response.body).contains(wrong))
            let logs = try await Self.entries(c, "/api/v1/user/logs", token: carol)
            let failure = try #require(logs.first { $0["kind"] as? String == "login_failure" }, "\(logs)")
            #expect(Self.metadata(failure)["username"] == "carol")
            #expect(Self.metadata(failure)["type"] == "quayauth")
            #expect(Self.metadata(failure)["kind"] == "user")
            #expect(Self.metadata(failure)["message"] == "Invalid username or password")
            #expect(Self.metadata(failure)["useragent"] == "slipway-test/1")
            #expect(failure["ip"] as? String == "203.0.113.7")
            #expect(!Self.metadata(failure).values.contains { $0.contains(wrong) })
            let success = try #require(logs.first { $0["kind"] as? String == "login_success" }, "\(logs)")
            #expect(Self.performer(success) == "carol")
            #expect(Self.metadata(success)["type"] == "quayauth")
            #expect(success["ip"] as? String == "203.0.113.7")
            // carol sees attempts on her account only, not the one on a name that does not exist.
            #expect(!logs.contains { Self.metadata($0)["username"] == "nobody-here" })

            // Nowhere in the stored logs: not in any metadata, not for the unknown name either.
            await registry.services.auditLog.flush()
            let stored = try await registry.services.store.database.read { db in
                try await db.raw("SELECT kind, metadata FROM usage_logs").all().map { (try $0.decode(column: "kind", as: String.self),
                                                                                          try $0.decode(column: "metadata", as: String.self)) }
            }
            #expect(stored.filter { $0.0 == "login_failure" }.count == 2)
            #expect(stored.contains { $0.0 == "login_failure" && $0.1.contains("nobody-here") })
            #expect(!stored.contains { $0.1.contains(wrong) })
            #expect(!stored.contains { $0.1.contains(TestRegistry.password) })
        }
    }
    /// `podman login`: a refused password is a `login_failure` under the user's account (never
    /// with the password), a robot with a wrong token is recorded as such, and the accepted
    /// login is a `login_success` of type `v2auth`.
    @Test(arguments: TestBackend.available)
    func registryLoginsLogSuccessAndFailure(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            try await registry.createUser("dave")
            let dave = try await Self.apiToken(registry, "dave")
            let wrong = "Not-the-password-\(UUID().uuidString)"
            #expect(try await c.token(.init("dave", wrong), scopes: []) == nil)
            #expect(try await c.token(.init("dave+bot", wrong), scopes: []) == nil)
            #expect(try await c.token(.init("dave", TestRegistry.password), scopes: []) != nil)
            let logs = try await Self.entries(c, "/api/v1/user/logs", token: dave)
            let failure = try #require(logs.first { $0["kind"] as? String == "login_failure" }, "\(logs)")
            #expect(Self.metadata(failure)["type"] == "v2auth" && Self.metadata(failure)["username"] == "dave")
            #expect(Self.metadata(failure)["message"] == "invalid username or password")
            let success = try #require(logs.first { $0["kind"] as? String == "login_success" }, "\(logs)")
            #expect(Self.performer(success) == "dave" && Self.metadata(success)["type"] == "v2auth")

            await registry.services.auditLog.flush()
            let stored = try await registry.services.store.database.read { db in
                try await db.raw("SELECT kind, metadata FROM usage_logs").all().map { (try $0.decode(column: "kind", as: String.self),
                                                                                          try $0.decode(column: "metadata", as: String.self)) }
            }
            #expect(stored.contains { $0.0 == "login_failure" && $0.1.contains("dave+bot") && $0.1.contains("robot") })
            #expect(!stored.contains { $0.1.contains(wrong) })
        }
    }
}
