import Accounts
import BuildOrchestrator
import BuildProtocol
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Build arguments and secrets (#18) through the builds API and the worker protocol: arguments
/// are shown, secrets are sealed at rest, reach only the lease, and are gone once the build ends.
@Suite("Build arguments and secrets")
struct BuildInputsAPITests {
    static let secret = "s3cr3t-Value-7c1f"

    @Test(arguments: TestBackend.available)
    func secretsAreSealedLeasedOnceAndDroppedAtTheEnd(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.builds.inProcessWorkers = 0 }) { registry, c in
            let api = try await BuildsAPITests.apiToken(registry)
            #expect(try await c.send(.post, "/api/v1/repository", token: api, headers: BuildsAPITests.json,
                                     body: ByteBuffer(string: #"{"repository":"app","visibility":"private","description":""}"#)).status == .created)
            let fileID = try await BuildsAPITests.upload(c, api, Array("FROM scratch\n".utf8))
            let start = try await c.send(.post, "/api/v1/repository/admin/app/build/", token: api, headers: BuildsAPITests.json, body: ByteBuffer(string: """
                {"file_id":"\(fileID)","build_args":{"GREETING":"hello world","_X1":""},"build_secrets":{"npm.token":"\(Self.secret)","b":"x"}}
                """))
            #expect(start.status == .created, "\(String(buffer: start.body))")
            #expect(!String(buffer: start.body).contains(Self.secret))
            let view = try #require(start.json as? [String: Any])
            let buildID = try #require(view["id"] as? String)
            #expect(view["build_args"] as? [String: String] == ["GREETING": "hello world", "_X1": ""])
            #expect(view["build_secrets"] as? [String] == ["b", "npm.token"])

            func storedColumns() async throws -> (args: String?, sealed: String?) {
                let row = try await registry.services.store.database.read { db in
                    try await db.raw("SELECT build_args, build_secrets_sealed FROM builds WHERE uuid = \(bind: buildID)").first()
                }
                return (try row?.decode(column: "build_args", as: String?.self), try row?.decode(column: "build_secrets_sealed", as: String?.self))
            }
            let stored = try await storedColumns()
            let sealed = try #require(stored.sealed)
            #expect(!sealed.contains(Self.secret) && !sealed.contains("npm.token"), "secrets are sealed at rest, ids and values")
            #expect(stored.args?.contains("hello world") == true)

            let worker = BuildsAPITests.Worker(c: c, token: registry.buildFarm.workerToken)
            let pack = try #require(try await worker.lease())
            #expect(pack.buildArgs == ["GREETING": "hello world", "_X1": ""])
            #expect(pack.buildSecrets == ["npm.token": Self.secret, "b": "x"])

            let done = try await worker.call(WorkerProtocol.buildPath(pack.buildID, "complete"), lease: pack.leaseID,
                                             Completion(outcome: .complete, manifestDigests: ["latest": "sha256:abc"]))
            #expect(done.status == .noContent)
            #expect(try await storedColumns().sealed == nil, "a finished build keeps no secret")
            let final = try await c.send(.get, "/api/v1/repository/admin/app/build/\(buildID)", token: api)
            #expect((final.json as? [String: Any])?["build_secrets"] as? [String] == ["b", "npm.token"], "the ids stay visible")
            #expect(!String(buffer: final.body).contains(Self.secret))
        }
    }

    /// A sealed value copied onto another build does not open there: the lease fails that build
    /// with a clear message instead of handing out anything.
    @Test(arguments: TestBackend.available)
    func sealedSecretsOpenOnlyForTheirOwnBuild(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.builds.inProcessWorkers = 0 }) { registry, c in
            let api = try await BuildsAPITests.apiToken(registry)
            #expect(try await c.send(.post, "/api/v1/repository", token: api, headers: BuildsAPITests.json,
                                     body: ByteBuffer(string: #"{"repository":"app","visibility":"private","description":""}"#)).status == .created)
            let fileID = try await BuildsAPITests.upload(c, api, Array("FROM scratch\n".utf8))
            var ids: [String] = []
            for body in [#"{"file_id":"\#(fileID)","build_secrets":{"t":"\#(Self.secret)"}}"#, #"{"file_id":"\#(fileID)"}"#] {
                let r = try await c.send(.post, "/api/v1/repository/admin/app/build/", token: api, headers: BuildsAPITests.json, body: ByteBuffer(string: body))
                #expect(r.status == .created)
                ids.append(try #require((r.json as? [String: Any])?["id"] as? String))
            }
            let (first, second) = (ids[0], ids[1])
            try await registry.services.store.database.transaction { db in
                try await db.raw("""
                    UPDATE builds SET build_secrets_sealed = (SELECT b.build_secrets_sealed FROM builds b WHERE b.uuid = \(bind: first))
                    WHERE uuid = \(bind: second)
                    """).run()
            }
            // Only the second build is left to lease.
            #expect(try await c.send(.delete, "/api/v1/repository/admin/app/build/\(ids[0])", token: api).status == .created)
            let worker = BuildsAPITests.Worker(c: c, token: registry.buildFarm.workerToken)
            #expect(try await worker.lease() == nil, "the build with a foreign sealed value is not handed out")
            let view = try #require(try await c.send(.get, "/api/v1/repository/admin/app/build/\(ids[1])", token: api).json as? [String: Any])
            #expect(view["phase"] as? String == "error")
            #expect((view["error"] as? String)?.contains("cannot be unsealed") == true)
        }
    }

    @Test(arguments: TestBackend.available)
    func badArgumentsAndSecretsAreRefusedAndQueueNothing(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.builds.inProcessWorkers = 0 }) { registry, c in
            let api = try await BuildsAPITests.apiToken(registry)
            #expect(try await c.send(.post, "/api/v1/repository", token: api, headers: BuildsAPITests.json,
                                     body: ByteBuffer(string: #"{"repository":"app","visibility":"private","description":""}"#)).status == .created)
            let fileID = try await BuildsAPITests.upload(c, api, Array("FROM scratch\n".utf8))
            let big = String(repeating: "x", count: BuildInputs.maxSecretBytes + 1)
            let manyArgs = (0...BuildInputs.maxArguments).map { "\"A\($0)\":\"v\"" }.joined(separator: ",")
            for (fields, fragment) in [
                (#""build_args":{"1BAD":"v"}"#, "not a valid argument name"),
                (#""build_args":{"A-B":"v"}"#, "not a valid argument name"),
                (#""build_args":{\#(manyArgs)}"#, "at most 64 build_args"),
                (#""build_args":{"A":"\#(String(repeating: "v", count: BuildInputs.maxArgumentValueBytes + 1))"}"#, "longer than"),
                (#""build_secrets":{"../x":"v"}"#, "not a valid secret id"),
                (#""build_secrets":{".hidden":"v"}"#, "not a valid secret id"),
                (#""build_secrets":{"t":""}"#, "is empty"),
                (#""build_secrets":{"t":"\#(big)"}"#, "larger than 65536 bytes"),
            ] {
                let r = try await c.send(.post, "/api/v1/repository/admin/app/build/", token: api, headers: BuildsAPITests.json,
                                         body: ByteBuffer(string: #"{"file_id":"\#(fileID)",\#(fields)}"#))
                #expect(r.status == .badRequest, "\(fields.prefix(80))")
                let detail = (r.json as? [String: Any])?["detail"] as? String
                #expect(detail?.contains(fragment) == true, "\(fields.prefix(80)): \(detail ?? String(buffer: r.body).prefix(200).description)")
                #expect(detail?.contains(String(repeating: "x", count: 100)) != true, "the answer never repeats a secret")
            }
            // Not an object of strings: refused by the decoder with the API's error body.
            let wrongType = try await c.send(.post, "/api/v1/repository/admin/app/build/", token: api, headers: BuildsAPITests.json,
                                             body: ByteBuffer(string: #"{"file_id":"\#(fileID)","build_args":{"A":1}}"#))
            #expect(wrongType.status == .badRequest)
            let list = try #require(try await c.send(.get, "/api/v1/repository/admin/app/build/", token: api).json as? [String: Any])
            #expect((list["builds"] as? [Any])?.isEmpty == true, "nothing was queued")
        }
    }

    /// `cache_repository` (#18 item 3): a repository of the namespace the requester may write,
    /// leased with a write token for it alone (revoked when the build ends), and skipped (with a
    /// notice for the log) when the build's user may no longer write to it.
    @Test(arguments: TestBackend.available)
    func layerCacheRepositoryIsCheckedLeasedWithItsOwnTokenAndSkippedWhenAccessIsGone(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.builds.inProcessWorkers = 0 }) { registry, c in
            let api = try await BuildsAPITests.apiToken(registry)
            for name in ["app", "cache"] {
                #expect(try await c.send(.post, "/api/v1/repository", token: api, headers: BuildsAPITests.json,
                                         body: ByteBuffer(string: #"{"repository":"\#(name)","visibility":"private","description":""}"#)).status == .created)
            }
            try await registry.createUser("dave")
            #expect(try await c.send(.put, "/api/v1/repository/admin/app/permissions/user/dave", token: api, headers: BuildsAPITests.json,
                                     body: ByteBuffer(string: #"{"role":"write"}"#)).status == .ok)
            let dave = try await BuildsAPITests.apiToken(registry, "dave")
            let daveFile = try await BuildsAPITests.upload(c, dave, Array("FROM scratch\n".utf8))
            let refused = try await c.send(.post, "/api/v1/repository/admin/app/build/", token: dave, headers: BuildsAPITests.json,
                                           body: ByteBuffer(string: #"{"file_id":"\#(daveFile)","cache_repository":"cache"}"#))
            #expect(refused.status == .badRequest)
            #expect(((refused.json as? [String: Any])?["detail"] as? String)?.contains("does not exist or you cannot write to it") == true)

            let fileID = try await BuildsAPITests.upload(c, api, Array("FROM scratch\n".utf8))
            for (name, fragment) in [("other/cache", "must be a repository of namespace admin"), ("app", "must not be the repository being built"),
                                     ("a/b/c", "must be a repository name"), ("missing", "does not exist")] {
                let r = try await c.send(.post, "/api/v1/repository/admin/app/build/", token: api, headers: BuildsAPITests.json,
                                         body: ByteBuffer(string: #"{"file_id":"\#(fileID)","cache_repository":"\#(name)"}"#))
                #expect(r.status == .badRequest, "\(name)")
                #expect(((r.json as? [String: Any])?["detail"] as? String)?.contains(fragment) == true, "\(name): \(String(buffer: r.body))")
            }

            var ids: [String] = []
            for _ in 0..<2 {
                let r = try await c.send(.post, "/api/v1/repository/admin/app/build/", token: api, headers: BuildsAPITests.json,
                                         body: ByteBuffer(string: #"{"file_id":"\#(fileID)","cache_repository":"admin/cache"}"#))
                #expect(r.status == .created)
                #expect((r.json as? [String: Any])?["cache_repository"] as? String == "admin/cache")
                ids.append(try #require((r.json as? [String: Any])?["id"] as? String))
            }
            let cacheRepo = try #require(try await registry.services.accounts.repository(RepositoryPath(namespace: "admin", name: "cache")))
            func cacheTokens() async throws -> Int {
                try await registry.services.accounts.repositoryTokens(repositoryID: cacheRepo.id, kind: "build-cache").count
            }
            let worker = BuildsAPITests.Worker(c: c, token: registry.buildFarm.workerToken)
            let pack = try #require(try await worker.lease())
            let cache = try #require(pack.layerCache)
            #expect(cache.repository == "admin/cache" && cache.credentials.username == "$token")
            #expect(cache.credentials.password != pack.pushCredentials.password)
            #expect(try await cacheTokens() == 1)
            #expect(try await worker.call(WorkerProtocol.buildPath(pack.buildID, "complete"), lease: pack.leaseID,
                                          Completion(outcome: .complete, manifestDigests: ["latest": "sha256:abc"])).status == .noContent)
            #expect(try await cacheTokens() == 0, "the cache token is revoked with the build's end")

            // The second build acts for a user who cannot write to the cache: it runs without it.
            let daveID = try #require(try await registry.services.accounts.namespace(named: "dave")).id
            let second = ids[1]
            try await registry.services.store.database.transaction { db in
                try await db.raw("UPDATE builds SET cache_user_id = \(bind: daveID) WHERE uuid = \(bind: second)").run()
            }
            let next = try #require(try await worker.lease())
            #expect(next.buildID == second && next.layerCache == nil)
            #expect(next.notices?.first?.contains("layer cache admin/cache skipped") == true, "\(next.notices ?? [])")
            #expect(try await cacheTokens() == 0)
        }
    }
}
