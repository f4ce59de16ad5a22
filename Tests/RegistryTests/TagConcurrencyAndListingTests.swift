import Accounts
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Tag moves serialize (one live row per tag name, whatever the interleaving), and the listing
/// corners of the repository and tag APIs: `next_page`, stars, `filter_tag_name`, and
/// repositories named like API route words.
@Suite("Concurrent tag writes; repository and tag listing")
struct TagConcurrencyAndListingTests {
    static let jsonHeaders: HTTPFields = [.contentType: "application/json"]
    static let writers = 16

    static func apiToken(_ registry: TestRegistry, _ user: String) async throws -> String {
        let ns = try #require(try await registry.services.accounts.namespace(named: user))
        let token = APITokens.generate()
        try await registry.services.accounts.createAPIToken(userID: ns.id, tokenHash: APITokens.hash(token), scopes: Array(APICaller.allScopes), description: "t")
        return token
    }

    static func json(_ r: TestResponse) -> [String: Any] { r.json as? [String: Any] ?? [:] }
    static func tags(_ r: TestResponse) -> [[String: Any]] { json(r)["tags"] as? [[String: Any]] ?? [] }

    /// `writers` distinct image manifests whose blobs are already in `repo`.
    static func manifests(_ c: RegistryClient, _ repo: String, token: String) async throws -> [(Digest, [UInt8])] {
        let config = Array(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.utf8)
        let configDigest = try await c.pushBlob(repo, config, token: token)
        var out: [(Digest, [UInt8])] = []
        for i in 0..<writers {
            let layer = Array("layer \(i) \(UUID())".utf8)
            let layerDigest = try await c.pushBlob(repo, layer, token: token)
            let bytes = TestManifests.image(config: (configDigest, config.count), layers: [(layerDigest, layer.count)])
            out.append((Digest.sha256(of: bytes), bytes))
        }
        return out
    }

    /// Exactly one live row for `tag`, in the tag API and in the table; it points at one of
    /// `candidates` and pulls byte-identically. Returns the live digest.
    @discardableResult
    static func assertOneLiveTag(_ registry: TestRegistry, _ c: RegistryClient, repo: String, tag: String, candidates: [(Digest, [UInt8])],
                                 api: String, pull: String) async throws -> Digest {
        let live = try await c.send(.get, "/api/v1/repository/\(repo)/tag/?onlyActiveTags=true&specificTag=\(tag)", token: api)
        let rows = tags(live)
        #expect(rows.count == 1, "\(String(buffer: live.body))")
        let digestText = try #require(rows.first?["manifest_digest"] as? String)
        let digest = try Digest(parsing: digestText)
        let bytes = try #require(candidates.first { $0.0 == digest }?.1, "live tag points at \(digest), which nobody pushed")

        let path = try RepositoryPath(parsing: repo)
        let stored = try #require(try await registry.services.accounts.repository(path))
        let count = try await registry.services.store.database.read { db in
            try await db.raw("""
                SELECT COUNT(*) AS n FROM tags WHERE repository_id = \(bind: stored.id) AND name = \(bind: tag) AND lifetime_end IS NULL
                """).first()!.decode(column: "n", as: Int64.self)
        }
        #expect(count == 1)

        let pulled = try await c.send(.get, "/v2/\(repo)/manifests/\(tag)", token: pull, headers: [.accept: MediaTypes.ociManifest])
        #expect(pulled.status == .ok)
        #expect(pulled.headers[.dockerContentDigest] == digest.description)
        #expect(Array(buffer: pulled.body) == bytes)
        return digest
    }

    /// History of `tag` is one unbroken chain: `expected` rows, each ended exactly when the next began.
    static func assertHistoryIsAChain(_ c: RegistryClient, repo: String, tag: String, expected: Int, api: String) async throws {
        let history = try await c.send(.get, "/api/v1/repository/\(repo)/tag/?specificTag=\(tag)&limit=100", token: api)
        let rows = tags(history).reversed().map { (start: $0["start_ts"] as? Int, end: $0["end_ts"] as? Int) }
        #expect(rows.count == expected, "\(String(buffer: history.body))")
        #expect(rows.last?.end == nil)
        #expect(rows.dropLast().allSatisfy { $0.end != nil })
        for (older, newer) in zip(rows, rows.dropFirst()) {
            #expect(older.end.map { $0 <= newer.start ?? 0 } == true, "rows overlap: \(older) then \(newer)")
        }
    }

    @Test(arguments: TestBackend.available)
    func concurrentManifestPutsOfOneTagSerialize(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let api = try await Self.apiToken(registry, "admin")
            let token = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/race:pull,push"]))
            let candidates = try await Self.manifests(c, "admin/race", token: token)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for (_, bytes) in candidates {
                    group.addTask {
                        try await c.send(.put, "/v2/admin/race/manifests/same", token: token, headers: [.contentType: MediaTypes.ociManifest],
                                         body: ByteBuffer(bytes: bytes)).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.count == Self.writers)
            #expect(statuses.allSatisfy { $0 == .created }, "\(statuses)")
            try await Self.assertOneLiveTag(registry, c, repo: "admin/race", tag: "same", candidates: candidates, api: api, pull: token)
            // Every PUT moved the tag (all manifests differ), one after another.
            try await Self.assertHistoryIsAChain(c, repo: "admin/race", tag: "same", expected: Self.writers, api: api)
        }
    }

    @Test(arguments: TestBackend.available)
    func concurrentAPITagMovesAndPushesSerialize(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let api = try await Self.apiToken(registry, "admin")
            let token = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/moves:pull,push"]))
            let candidates = try await Self.manifests(c, "admin/moves", token: token)
            for (digest, bytes) in candidates {  // each manifest in the repository, by digest
                #expect(try await c.send(.put, "/v2/admin/moves/manifests/\(digest)", token: token, headers: [.contentType: MediaTypes.ociManifest],
                                         body: ByteBuffer(bytes: bytes)).status == .created)
            }
            // Half the writers move the tag through the API, half push it through /v2, all at once.
            let statuses = try await withThrowingTaskGroup(of: (String, HTTPResponse.Status).self) { group in
                for (i, (digest, bytes)) in candidates.enumerated() {
                    group.addTask {
                        if i.isMultiple(of: 2) {
                            let r = try await c.send(.put, "/api/v1/repository/admin/moves/tag/moving", token: api, headers: Self.jsonHeaders,
                                                     body: ByteBuffer(string: #"{"manifest_digest":"\#(digest)"}"#))
                            return ("api", r.status)
                        }
                        let r = try await c.send(.put, "/v2/admin/moves/manifests/moving", token: token, headers: [.contentType: MediaTypes.ociManifest],
                                                 body: ByteBuffer(bytes: bytes))
                        return ("v2", r.status)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.count == Self.writers)
            #expect(statuses.allSatisfy { $0.1 == .created }, "\(statuses)")
            try await Self.assertOneLiveTag(registry, c, repo: "admin/moves", tag: "moving", candidates: candidates, api: api, pull: token)
            try await Self.assertHistoryIsAChain(c, repo: "admin/moves", tag: "moving", expected: Self.writers, api: api)
        }
    }

    @Test(arguments: TestBackend.available)
    func repositoryListFollowsNextPage(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let api = try await Self.apiToken(registry, "admin")
            // One more than a page of 100, with nested names that sort between the others.
            var created: Set<String> = []
            for i in 0..<101 {
                let name = i.isMultiple(of: 10) ? "group\(i)/repo" : "repo\(String(format: "%03d", i))"
                let r = try await c.send(.post, "/api/v1/repository", token: api, headers: Self.jsonHeaders,
                                         body: ByteBuffer(string: #"{"repository":"\#(name)","visibility":"private","description":""}"#))
                #expect(r.status == .created, "\(name): \(String(buffer: r.body))")
                created.insert(name)
            }
            var seen: [String] = []
            var next: String?
            var pages = 0
            repeat {
                var uri = "/api/v1/repository?namespace=admin"
                if let next { uri += "&next_page=" + next.addingPercentEncoding(withAllowedCharacters: .alphanumerics)! }
                let r = try await c.send(.get, uri, token: api)
                #expect(r.status == .ok, "\(String(buffer: r.body))")
                let repos = Self.json(r)["repositories"] as? [[String: Any]] ?? []
                #expect(!repos.isEmpty)
                seen += repos.compactMap { $0["name"] as? String }
                next = Self.json(r)["next_page"] as? String
                pages += 1
                if pages == 1 { #expect(repos.count == 100 && next != nil) }
            } while next != nil && pages < 10
            #expect(pages == 2)
            #expect(seen.count == created.count, "every repository exactly once")
            #expect(Set(seen) == created)
            #expect(try await c.send(.get, "/api/v1/repository?namespace=admin&next_page=%%%", token: api).status == .badRequest)
        }
    }

    @Test(arguments: TestBackend.available)
    func starThenUnstar(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            try await registry.createUser("bob")
            let admin = try await Self.apiToken(registry, "admin")
            let bob = try await Self.apiToken(registry, "bob")
            for name in ["shiny", "dull"] {
                #expect(try await c.send(.post, "/api/v1/repository", token: admin, headers: Self.jsonHeaders,
                                         body: ByteBuffer(string: #"{"repository":"\#(name)","visibility":"public","description":""}"#)).status == .created)
            }
            func starred() async throws -> [String] {
                let r = try await c.send(.get, "/api/v1/user/starred", token: bob)
                return (Self.json(r)["repositories"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            }
            func isStarred() async throws -> Bool? {
                Self.json(try await c.send(.get, "/api/v1/repository/admin/shiny", token: bob))["is_starred"] as? Bool
            }
            #expect(try await isStarred() == false)
            #expect(try await c.send(.post, "/api/v1/user/starred", token: bob, headers: Self.jsonHeaders,
                                     body: ByteBuffer(string: #"{"namespace":"admin","repository":"shiny"}"#)).status == .created)
            #expect(try await starred() == ["shiny"])
            #expect(try await isStarred() == true)
            let list = try await c.send(.get, "/api/v1/repository?starred=true", token: bob)
            #expect((Self.json(list)["repositories"] as? [[String: Any]])?.map { $0["name"] as? String } == ["shiny"])
            // Stars are per user.
            #expect(Self.json(try await c.send(.get, "/api/v1/repository/admin/shiny", token: admin))["is_starred"] as? Bool == false)

            #expect(try await c.send(.delete, "/api/v1/repository/admin/shiny/star", token: bob).status == .noContent)
            #expect(try await starred().isEmpty)
            #expect(try await isStarred() == false)
            // Unstarring twice is harmless; starring a repository that does not exist is a 404.
            #expect(try await c.send(.delete, "/api/v1/repository/admin/shiny/star", token: bob).status == .noContent)
            #expect(try await c.send(.post, "/api/v1/user/starred", token: bob, headers: Self.jsonHeaders,
                                     body: ByteBuffer(string: #"{"namespace":"admin","repository":"missing"}"#)).status == .notFound)
        }
    }

    @Test(arguments: TestBackend.available)
    func tagListFiltersByName(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let api = try await Self.apiToken(registry, "admin")
            let token = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/filters:pull,push"]))
            for tag in ["v1", "v1.1", "v10", "v1_a", "v1ba", "latest"] {
                try await c.pushImage("admin/filters", tag: tag, token: token)
            }
            func names(_ query: String) async throws -> Set<String> {
                let r = try await c.send(.get, "/api/v1/repository/admin/filters/tag/?onlyActiveTags=true&\(query)", token: api)
                #expect(r.status == .ok, "\(query): \(String(buffer: r.body))")
                return Set(Self.tags(r).compactMap { $0["name"] as? String })
            }
            #expect(try await names("filter_tag_name=eq:v1") == ["v1"])
            #expect(try await names("filter_tag_name=eq:v") == [])
            #expect(try await names("filter_tag_name=like:v1") == ["v1", "v1.1", "v10", "v1_a", "v1ba"])
            #expect(try await names("filter_tag_name=like:test") == ["latest"])
            // `_` and `%` are literal, not SQL wildcards.
            #expect(try await names("filter_tag_name=like:1_") == ["v1_a"])
            #expect(try await names("filter_tag_name=like:%25") == [])
            let bad = try await c.send(.get, "/api/v1/repository/admin/filters/tag/?filter_tag_name=v1", token: api)
            #expect(bad.status == .badRequest)
        }
    }

    @Test(arguments: TestBackend.available)
    func repositoriesNamedTriggerAndLogs(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let api = try await Self.apiToken(registry, "admin")
            for name in ["trigger", "logs", "logs/trigger", "trigger/logs"] {
                let r = try await c.send(.post, "/api/v1/repository", token: api, headers: Self.jsonHeaders,
                                         body: ByteBuffer(string: #"{"repository":"\#(name)","visibility":"private","description":"\#(name)"}"#))
                #expect(r.status == .created, "\(name): \(String(buffer: r.body))")
                let token = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/\(name):pull,push"]))
                let (digest, _) = try await c.pushImage("admin/\(name)", tag: "v1", token: token)

                let get = try await c.send(.get, "/api/v1/repository/admin/\(name)", token: api)
                #expect(get.status == .ok, "\(name)")
                #expect(Self.json(get)["name"] as? String == name)
                #expect(Self.json(get)["description"] as? String == name)
                let tags = try await c.send(.get, "/api/v1/repository/admin/\(name)/tag/", token: api)
                #expect(Self.tags(tags).map { $0["name"] as? String } == ["v1"], "\(name): \(String(buffer: tags.body))")
                #expect(Self.tags(tags).first?["manifest_digest"] as? String == digest.description)
                let logs = try await c.send(.get, "/api/v1/repository/admin/\(name)/logs", token: api)
                #expect((Self.json(logs)["logs"] as? [[String: Any]])?.contains { $0["kind"] as? String == "create_repo" } == true, "\(name)")
            }
            for name in ["trigger", "logs/trigger", "logs", "trigger/logs"] {
                #expect(try await c.send(.delete, "/api/v1/repository/admin/\(name)", token: api).status == .noContent, "\(name)")
                #expect(try await c.send(.get, "/api/v1/repository/admin/\(name)", token: api).status == .notFound, "\(name)")
                #expect(try await c.send(.get, "/api/v1/repository/admin/\(name)/tag/", token: api).status == .notFound, "\(name)")
            }
        }
    }
}
