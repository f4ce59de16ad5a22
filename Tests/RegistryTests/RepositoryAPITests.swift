import Accounts
import Foundation
import HTTPTypes
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

@Suite("API v1: repositories, tags, labels, usage logs")
struct RepositoryAPITests {
    static func apiToken(_ registry: TestRegistry, _ user: String) async throws -> String {
        let ns = try #require(try await registry.services.accounts.namespace(named: user))
        let token = APITokens.generate()
        try await registry.services.accounts.createAPIToken(userID: ns.id, tokenHash: APITokens.hash(token), scopes: Array(APICaller.allScopes), description: "t")
        return token
    }

    static func json(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }
    static let jsonHeaders: HTTPFields = [.contentType: "application/json"]

    @Test(arguments: TestBackend.available)
    func repositoryLifecycle(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            try await registry.createUser("bob")
            let admin = try await Self.apiToken(registry, "admin")
            let bob = try await Self.apiToken(registry, "bob")
            // Names Quay trips over must work: build, trigger, tag, logs, nested.
            for name in ["build", "trigger", "tag", "logs", "team/tag/logs"] {
                let r = try await c.send(.post, "/api/v1/repository", token: admin, headers: Self.jsonHeaders,
                                         body: Self.json(#"{"repository":"\#(name)","visibility":"private","description":"d"}"#))
                #expect(r.status == .created, "\(name): \(String(buffer: r.body))")
                let get = try await c.send(.get, "/api/v1/repository/admin/\(name)", token: admin)
                #expect(get.status == .ok, "\(name)")
                #expect((get.json as? [String: Any])?["name"] as? String == name)
            }
            let dup = try await c.send(.post, "/api/v1/repository", token: admin, headers: Self.jsonHeaders,
                                       body: Self.json(#"{"repository":"build","visibility":"private","description":""}"#))
            #expect((dup.json as? [String: Any])?["error_message"] as? String == "Repository already exists")
            for body in [#"{"repository":"Bad","visibility":"private","description":""}"#, #"{"repository":"x","visibility":"secret","description":""}"#,
                         #"{"visibility":"private"}"#] {
                #expect(try await c.send(.post, "/api/v1/repository", token: admin, headers: Self.jsonHeaders, body: Self.json(body)).status == .badRequest)
            }
            // bob cannot create in admin's namespace nor see its private repos.
            let foreign = try await c.send(.post, "/api/v1/repository", token: bob, headers: Self.jsonHeaders,
                                           body: Self.json(#"{"repository":"x","visibility":"private","description":"","namespace":"admin"}"#))
            #expect(foreign.status == .forbidden)
            #expect(try await c.send(.get, "/api/v1/repository/admin/build", token: bob).status == .notFound)

            // Visibility and listing.
            #expect(try await c.send(.post, "/api/v1/repository/admin/tag/changevisibility", token: admin, headers: Self.jsonHeaders,
                                     body: Self.json(#"{"visibility":"public"}"#)).status == .ok)
            let bobList = try await c.send(.get, "/api/v1/repository?namespace=admin", token: bob)
            #expect(((bobList.json as? [String: Any])?["repositories"] as? [[String: Any]])?.map { $0["name"] as? String } == ["tag"])
            let anonPublic = try await c.send(.get, "/api/v1/repository?public=true")
            #expect(((anonPublic.json as? [String: Any])?["repositories"] as? [[String: Any]])?.count == 1)
            #expect(try await c.send(.get, "/api/v1/repository", token: admin).status == .badRequest)

            // Description, state, star.
            #expect(try await c.send(.put, "/api/v1/repository/admin/logs", token: admin, headers: Self.jsonHeaders,
                                     body: Self.json(#"{"description":"the logs repo"}"#)).status == .ok)
            let logsRepo = try await c.send(.get, "/api/v1/repository/admin/logs", token: admin)
            #expect((logsRepo.json as? [String: Any])?["description"] as? String == "the logs repo")
            #expect((logsRepo.json as? [String: Any])?["can_admin"] as? Bool == true)
            #expect(try await c.send(.put, "/api/v1/repository/admin/logs/changestate", token: admin, headers: Self.jsonHeaders,
                                     body: Self.json(#"{"state":"MIRROR"}"#)).status == .badRequest)
            #expect(try await c.send(.post, "/api/v1/user/starred", token: bob, headers: Self.jsonHeaders,
                                     body: Self.json(#"{"namespace":"admin","repository":"tag"}"#)).status == .created)
            let starred = try await c.send(.get, "/api/v1/user/starred", token: bob)
            #expect(((starred.json as? [String: Any])?["repositories"] as? [[String: Any]])?.first?["name"] as? String == "tag")

            // A read-only repository refuses pushes.
            #expect(try await c.send(.put, "/api/v1/repository/admin/trigger/changestate", token: admin, headers: Self.jsonHeaders,
                                     body: Self.json(#"{"state":"READ_ONLY"}"#)).status == .ok)
            let push = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/trigger:pull,push"]))
            let blocked = try await c.send(.post, "/v2/admin/trigger/blobs/uploads/", token: push)
            #expect(blocked.status == .methodNotAllowed)

            // Delete: gone at once, name reusable; deleting names containing route words works.
            for name in ["build", "team/tag/logs"] {
                #expect(try await c.send(.delete, "/api/v1/repository/admin/\(name)", token: admin).status == .noContent, "\(name)")
                #expect(try await c.send(.get, "/api/v1/repository/admin/\(name)", token: admin).status == .notFound, "\(name)")
            }
            #expect(try await c.send(.post, "/api/v1/repository", token: admin, headers: Self.jsonHeaders,
                                     body: Self.json(#"{"repository":"build","visibility":"private","description":""}"#)).status == .created)
        }
    }

    /// Quay answers 204 to deleting a repository that does not exist (pubtools-quay's
    /// `delete_repository` relies on it), to whoever could have deleted it; anyone else gets what
    /// a private repository they cannot see gives, so nothing leaks.
    @Test(arguments: TestBackend.available)
    func deletingAMissingRepositoryIsNoContentForItsNamespaceAdmin(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            try await registry.createUser("bob")
            let admin = try await Self.apiToken(registry, "admin")
            let bob = try await Self.apiToken(registry, "bob")
            #expect(try await c.send(.delete, "/api/v1/repository/admin/never-pushed", token: admin).status == .noContent)
            #expect(try await c.send(.delete, "/api/v1/repository/admin/nested/never-pushed", token: admin).status == .noContent)
            #expect(try await c.send(.get, "/api/v1/repository/admin/never-pushed", token: admin).status == .notFound)
            // Deleted twice: the second is a no-op too.
            try await c.pushImage("admin/gone", tag: "v1", token: try #require(try await c.token(.init("admin"), scopes: ["repository:admin/gone:pull,push"])))
            #expect(try await c.send(.delete, "/api/v1/repository/admin/gone", token: admin).status == .noContent)
            #expect(try await c.send(.delete, "/api/v1/repository/admin/gone", token: admin).status == .noContent)

            let other = try await c.send(.delete, "/api/v1/repository/admin/never-pushed", token: bob)
            #expect(other.status == .notFound)
            #expect((other.json as? [String: Any])?["error_type"] as? String == "not_found")
            #expect(try await c.send(.delete, "/api/v1/repository/admin/never-pushed").status == .unauthorized)
            #expect(try await c.send(.delete, "/api/v1/repository/no-such-namespace/x", token: admin).status == .notFound)
            #expect(try await c.send(.delete, "/api/v1/repository/not-a-path", token: admin).status == .notFound)
        }
    }

    /// Found by schemathesis: Unix seconds beyond what milliseconds can hold trapped on the
    /// multiplication and killed the server (tag expiration, builds `since`). They are a 400 now.
    @Test(arguments: TestBackend.available)
    func hugeSecondsAreABadRequestNotACrash(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let admin = try await Self.apiToken(registry, "admin")
            let push = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/app:pull,push"]))
            try await c.pushImage("admin/app", tag: "v1", token: push)
            for (method, path, body) in [
                (HTTPRequest.Method.put, "/api/v1/repository/admin/app/tag/v1", #"{"expiration": 44045792635935392}"#),
                (.post, "/api/v1/repository/admin/app/tag/expiration", #"{"tags": ["v1"], "expiration": 9223372036854775807}"#),
            ] {
                let r = try await c.send(method, path, token: admin, headers: Self.jsonHeaders, body: Self.json(body))
                #expect(r.status == .badRequest, "\(path): \(String(buffer: r.body))")
                #expect((r.json as? [String: Any])?["error_message"] as? String == "'expiration' is out of range")
            }
            let builds = try await c.send(.get, "/api/v1/repository/admin/app/build/?limit=-175058426993106&since=44045792635935392", token: admin)
            #expect(builds.status == .badRequest, "\(String(buffer: builds.body))")
            #expect(try await c.send(.get, "/api/v1/repository/admin/app/build/?since=1", token: admin).status == .ok)
        }
    }

    @Test(arguments: TestBackend.available)
    func tagsHistoryExpiryAndRestore(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let admin = try await Self.apiToken(registry, "admin")
            let push = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/app:pull,push"]))
            let (first, _) = try await c.pushImage("admin/app", tag: "latest", token: push)
            let (second, _) = try await c.pushImage("admin/app", tag: "latest", token: push)
            try await c.pushImage("admin/app", tag: "other", token: push)

            let history = try await c.send(.get, "/api/v1/repository/admin/app/tag/?specificTag=latest", token: admin)
            let rows = try #require((history.json as? [String: Any])?["tags"] as? [[String: Any]], "\(String(buffer: history.body))")
            #expect(rows.map { $0["manifest_digest"] as? String } == [second.description, first.description])
            #expect(rows[1]["end_ts"] != nil)
            let active = try await c.send(.get, "/api/v1/repository/admin/app/tag/?onlyActiveTags=true&filter_tag_name=like:ate", token: admin)
            #expect(((active.json as? [String: Any])?["tags"] as? [[String: Any]])?.map { $0["name"] as? String } == ["latest"])
            let page = try await c.send(.get, "/api/v1/repository/admin/app/tag/?limit=1&page=1", token: admin)
            #expect((page.json as? [String: Any])?["has_additional"] as? Bool == true)

            // Restore the first manifest, then the tag pulls it again.
            let restore = try await c.send(.post, "/api/v1/repository/admin/app/tag/latest/restore", token: admin, headers: Self.jsonHeaders,
                                           body: Self.json(#"{"manifest_digest":"\#(first)"}"#))
            #expect(restore.status == .ok)
            let pulled = try await c.send(.get, "/v2/admin/app/manifests/latest", token: push)
            #expect(pulled.headers[.dockerContentDigest] == first.description)
            let never = Digest.sha256(of: Array("never".utf8))
            let bad = try await c.send(.post, "/api/v1/repository/admin/app/tag/latest/restore", token: admin, headers: Self.jsonHeaders,
                                       body: Self.json(#"{"manifest_digest":"\#(never)"}"#))
            #expect(bad.status == .badRequest)

            // Delete, then restore within the window.
            #expect(try await c.send(.delete, "/api/v1/repository/admin/app/tag/other", token: admin).status == .noContent)
            #expect(try await c.send(.get, "/v2/admin/app/manifests/other", token: push).status == .notFound)
            let otherHistory = try await c.send(.get, "/api/v1/repository/admin/app/tag/?specificTag=other", token: admin)
            let otherDigest = try #require(((otherHistory.json as? [String: Any])?["tags"] as? [[String: Any]])?.first?["manifest_digest"] as? String)
            #expect(try await c.send(.post, "/api/v1/repository/admin/app/tag/other/restore", token: admin, headers: Self.jsonHeaders,
                                     body: Self.json(#"{"manifest_digest":"\#(otherDigest)"}"#)).status == .ok)
            #expect(try await c.send(.get, "/v2/admin/app/manifests/other", token: push).status == .ok)
            // Time machine at 0 s: deleted tags are no longer restorable.
            let adminNS = try #require(try await registry.services.accounts.namespace(named: "admin"))
            _ = try await registry.services.store.database.transaction { db in
                try await db.raw("UPDATE namespaces SET tag_expiration_s = 0 WHERE id = \(bind: adminNS.id)").run()
            }
            #expect(try await c.send(.delete, "/api/v1/repository/admin/app/tag/other", token: admin).status == .noContent)
            try await Task.sleep(for: .milliseconds(20))
            #expect(try await c.send(.post, "/api/v1/repository/admin/app/tag/other/restore", token: admin, headers: Self.jsonHeaders,
                                     body: Self.json(#"{"manifest_digest":"\#(otherDigest)"}"#)).status == .badRequest)

            // Expiry: must be in the future; expired tags stop resolving.
            let past = Int(Date().timeIntervalSince1970) - 10
            #expect(try await c.send(.put, "/api/v1/repository/admin/app/tag/latest", token: admin, headers: Self.jsonHeaders,
                                     body: Self.json(#"{"expiration":\#(past)}"#)).status == .badRequest)
            let future = Int(Date().timeIntervalSince1970) + 3600
            #expect(try await c.send(.put, "/api/v1/repository/admin/app/tag/latest", token: admin, headers: Self.jsonHeaders,
                                     body: Self.json(#"{"expiration":\#(future)}"#)).status == .created)
            let withExpiry = try await c.send(.get, "/api/v1/repository/admin/app/tag/?specificTag=latest&onlyActiveTags=true", token: admin)
            let expiring = try #require(((withExpiry.json as? [String: Any])?["tags"] as? [[String: Any]])?.first)
            #expect(expiring["expiration"] as? String != nil)
            // Quay sends a coming expiry as end_ts too; tools read either.
            #expect(expiring["end_ts"] as? Int == future, "\(expiring)")
            let bulk = try await c.send(.post, "/api/v1/repository/admin/app/tag/expiration", token: admin, headers: Self.jsonHeaders,
                                        body: Self.json(#"{"tags":["latest","nope"],"expiration":null}"#))
            #expect((bulk.json as? [String: Any])?["missing"] as? [String] == ["nope"])
            // Move a tag by digest through the API; invalid names and unknown manifests are refused.
            #expect(try await c.send(.put, "/api/v1/repository/admin/app/tag/moved", token: admin, headers: Self.jsonHeaders,
                                     body: Self.json(#"{"manifest_digest":"\#(second)"}"#)).status == .created)
            #expect(try await c.send(.put, "/api/v1/repository/admin/app/tag/.bad", token: admin, headers: Self.jsonHeaders,
                                     body: Self.json(#"{"manifest_digest":"\#(second)"}"#)).status == .badRequest)
            #expect(try await c.send(.put, "/api/v1/repository/admin/app/tag/x", token: admin, headers: Self.jsonHeaders,
                                     body: Self.json(#"{"manifest_digest":"\#(never)"}"#)).status == .notFound)
        }
    }

    @Test(arguments: TestBackend.available)
    func labelsFromConfigAndAPI(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let admin = try await Self.apiToken(registry, "admin")
            let push = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/lab:pull,push"]))
            let config = Array(#"{"architecture":"amd64","os":"linux","config":{"Labels":{"quay.expires-after":"2h","team":"infra"}},"rootfs":{"type":"layers","diff_ids":[]}}"#.utf8)
            let configDigest = try await c.pushBlob("admin/lab", config, token: push)
            let manifest = TestManifests.image(config: (configDigest, config.count), layers: [])
            _ = try await c.send(.put, "/v2/admin/lab/manifests/v1", token: push, headers: [.contentType: MediaTypes.ociManifest], body: ByteBuffer(bytes: manifest))
            let digest = Digest.sha256(of: manifest)

            let labels = try await c.send(.get, "/api/v1/repository/admin/lab/manifest/\(digest)/labels", token: admin)
            let list = try #require((labels.json as? [String: Any])?["labels"] as? [[String: Any]])
            #expect(Set(list.compactMap { $0["key"] as? String }) == ["quay.expires-after", "team"])
            #expect(list.allSatisfy { $0["source_type"] as? String == "manifest" })
            // quay.expires-after=2h set the tag's expiry at push time.
            let tags = try await c.send(.get, "/api/v1/repository/admin/lab/tag/?specificTag=v1", token: admin)
            #expect(((tags.json as? [String: Any])?["tags"] as? [[String: Any]])?.first?["expiration"] as? String != nil, "\(String(buffer: tags.body))")
            // The same manifest under a second tag is not stored again, yet its label still sets
            // the new tag's expiry, and the labels are not doubled.
            let retag = try await c.send(.put, "/v2/admin/lab/manifests/v2", token: push, headers: [.contentType: MediaTypes.ociManifest], body: ByteBuffer(bytes: manifest))
            #expect(retag.status == .created)
            let second = try await c.send(.get, "/api/v1/repository/admin/lab/tag/?specificTag=v2", token: admin)
            #expect(((second.json as? [String: Any])?["tags"] as? [[String: Any]])?.first?["expiration"] as? String != nil, "\(String(buffer: second.body))")
            let relabeled = try await c.send(.get, "/api/v1/repository/admin/lab/manifest/\(digest)/labels", token: admin)
            #expect(((relabeled.json as? [String: Any])?["labels"] as? [[String: Any]])?.count == 2, "\(String(buffer: relabeled.body))")

            let added = try await c.send(.post, "/api/v1/repository/admin/lab/manifest/\(digest)/labels", token: admin, headers: Self.jsonHeaders,
                                         body: Self.json(#"{"key":"owner","value":"ops","media_type":"text/plain"}"#))
            #expect(added.status == .created)
            #expect(added.headers[.location]?.hasPrefix("/api/v1/repository/admin/lab/manifest/") == true)
            let labelID = try #require(((added.json as? [String: Any])?["label"] as? [String: Any])?["id"] as? String)
            for (key, why) in [("quay.x", "reserved"), ("org.opencontainers.foo", "reserved"), ("Bad", "uppercase"), ("a..b", "repeat"), ("-a", "start")] {
                let r = try await c.send(.post, "/api/v1/repository/admin/lab/manifest/\(digest)/labels", token: admin, headers: Self.jsonHeaders,
                                         body: Self.json(#"{"key":"\#(key)","value":"v","media_type":"text/plain"}"#))
                #expect(r.status == .badRequest, "\(key) (\(why))")
            }
            let manifestLabel = try #require(list.first?["id"] as? String)
            #expect(try await c.send(.delete, "/api/v1/repository/admin/lab/manifest/\(digest)/labels/\(manifestLabel)", token: admin).status == .badRequest)
            #expect(try await c.send(.delete, "/api/v1/repository/admin/lab/manifest/\(digest)/labels/\(labelID)", token: admin).status == .noContent)
            let repoView = try await c.send(.get, "/api/v1/repository/admin/lab", token: admin)
            let fetch = (((repoView.json as? [String: Any])?["tags"] as? [String: Any])?["v1"] as? [String: Any])?["pull_commands"] as? [String: String]
            #expect(fetch?["podman_by_tag"] == "podman pull localhost/admin/lab:v1")
            #expect(fetch?["docker_by_digest"] == "docker pull localhost/admin/lab@\(digest)")
            let info = try await c.send(.get, "/api/v1/repository/admin/lab/manifest/\(digest)", token: admin)
            #expect((info.json as? [String: Any])?["manifest_data"] as? String == String(decoding: manifest, as: UTF8.self))
        }
    }

    /// `last_modified` comes from the registry's tags while the listing itself is the account
    /// store's: a pushed repository carries its tag's push time, an empty one none.
    @Test(arguments: TestBackend.available)
    func listingsCarryWhenATagLastMoved(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let admin = try await Self.apiToken(registry, "admin")
            let before = Clock.nowMillis() / 1000
            let push = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/pushed:pull,push"]))
            try await c.pushImage("admin/pushed", tag: "v1", token: push)
            let after = Clock.nowMillis() / 1000
            #expect(try await c.send(.post, "/api/v1/repository", token: admin, headers: Self.jsonHeaders,
                                     body: Self.json(#"{"repository":"empty","visibility":"private","description":""}"#)).status == .created)
            let list = try await c.send(.get, "/api/v1/repository?namespace=admin", token: admin)
            let rows = try #require((list.json as? [String: Any])?["repositories"] as? [[String: Any]])
            let byName = Dictionary(uniqueKeysWithValues: rows.compactMap { row in (row["name"] as? String).map { ($0, row) } })
            let pushed = try #require(byName["pushed"]?["last_modified"] as? Int)
            #expect((before...after).contains(Int64(pushed)))
            #expect(byName["empty"] != nil)
            #expect(byName["empty"]?["last_modified"] as? Int == nil)
        }
    }

    @Test func expiresAfterParsing() {
        #expect(ExpiresAfter.seconds("2h") == 7200)
        #expect(ExpiresAfter.seconds("3w") == 1_814_400)
        #expect(ExpiresAfter.seconds("10s") == 10)
        for bad in ["", "h", "2x", "-1d", "0d", "999999999999w"] { #expect(ExpiresAfter.seconds(bad) == nil, "\(bad)") }
    }

    @Test(arguments: TestBackend.available)
    func usageLogs(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let admin = try await Self.apiToken(registry, "admin")
            let push = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/logged:pull,push"]))
            try await c.pushImage("admin/logged", tag: "v1", token: push)
            _ = try await c.send(.get, "/v2/admin/logged/manifests/v1", token: push)
            _ = try await c.send(.post, "/api/v1/repository/admin/logged/changevisibility", token: admin, headers: Self.jsonHeaders,
                                 body: Self.json(#"{"visibility":"public"}"#))
            let logs = try await c.send(.get, "/api/v1/repository/admin/logged/logs", token: admin)
            let entries = try #require((logs.json as? [String: Any])?["logs"] as? [[String: Any]])
            let kinds = entries.compactMap { $0["kind"] as? String }
            #expect(kinds.contains("push_repo"))
            #expect(kinds.contains("pull_repo"))
            #expect(kinds.first == "change_repo_visibility")
            #expect((entries.first?["performer"] as? [String: Any])?["name"] as? String == "admin")
            #expect((entries.first?["metadata"] as? [String: Any])?["visibility"] as? String == "public")

            // 25 more entries → two pages of 20.
            let repo = try #require(try await registry.services.accounts.repository(RepositoryPath(namespace: "admin", name: "logged")))
            for i in 0..<25 { registry.services.auditLog.record(.repository(.pullRepo, repo, performer: nil, ip: "10.0.0.\(i)")) }
            let p1 = try await c.send(.get, "/api/v1/repository/admin/logged/logs", token: admin)
            let next = try #require((p1.json as? [String: Any])?["next_page"] as? String)
            #expect(((p1.json as? [String: Any])?["logs"] as? [Any])?.count == 20)
            let p2 = try await c.send(.get, "/api/v1/repository/admin/logged/logs?next_page=\(next)", token: admin)
            #expect(((p2.json as? [String: Any])?["logs"] as? [Any])?.count == entries.count + 25 - 20)

            let agg = try await c.send(.get, "/api/v1/repository/admin/logged/aggregatelogs", token: admin)
            let counts = try #require((agg.json as? [String: Any])?["aggregated"] as? [[String: Any]])
            #expect(counts.first(where: { $0["kind"] as? String == "pull_repo" })?["count"] as? Int == 26)

            for query in ["starttime=12/31/2026&endtime=01/01/2026", "starttime=01/01/2026&endtime=06/01/2026", "starttime=bogus"] {
                #expect(try await c.send(.get, "/api/v1/repository/admin/logged/logs?\(query)", token: admin).status == .badRequest, "\(query)")
            }
            let user = try await c.send(.get, "/api/v1/user/logs", token: admin)
            #expect(((user.json as? [String: Any])?["logs"] as? [Any])?.isEmpty == false)
        }
    }
}
