import BuildOrchestrator
import BuildProtocol
import HummingbirdTesting
import NIOCore
import Foundation
import Registry
import SlipwayTestSupport
import Testing
@testable import Triggers
import SlipwayCore

/// A trigger's `config.build_args` and `config.build_secrets` (#18 item 2): every build it queues
/// gets them; the secrets are sealed in the trigger's row, shown by id only, kept by an edit
/// that does not name them and removed by one that sends `{}`.
@Suite("Trigger build arguments and secrets")
struct TriggerBuildInputsTests {
    typealias H = TriggerHarness
    static let secret = "trigger-s3cret-4d2b"

    @Test(arguments: TestBackend.available)
    func triggerBuildsCarryTheTriggersArgumentsAndSecrets(backend: TestBackend) async throws {
        try await H.run(backend) { h in
            let (uuid, hookSecret) = try await h.activated(config: ["build_args": ["CHANNEL": "stable"], "build_secrets": ["token": Self.secret]])
            let (status, view) = try await h.api(.get, "\(H.base)/\(uuid)")
            #expect(status == 200)
            let config = try #require(view["config"] as? [String: Any])
            #expect(config["build_args"] as? [String: String] == ["CHANNEL": "stable"])
            #expect(config["build_secret_ids"] as? [String] == ["token"])
            #expect(config["build_secrets"] == nil)
            let stored = try await h.trigger(uuid)
            let sealed = try #require(stored.buildSecretsSealed)
            #expect(!sealed.contains(Self.secret) && !stored.config.json.contains(Self.secret))

            // A webhook's build gets both, the secret sealed again under the build's own uuid.
            let (hook, answer) = try await h.webhook(uuid, secret: hookSecret, PayloadFixtures.custom)
            #expect(hook == 200, "\(answer)")
            let build = try await h.build(answer["build_id"])
            #expect(build.buildArgs == ["CHANNEL": "stable"] && build.buildSecretIDs == ["token"])
            let buildSealed = try #require(build.buildSecretsSealed)
            #expect(buildSealed != sealed && !buildSealed.contains(Self.secret))
            let worker = BuildsAPITestsWorker(c: h.c, token: h.registry.buildFarm.workerToken)
            let pack = try #require(try await worker.lease())
            #expect(pack.buildArgs == ["CHANNEL": "stable"] && pack.buildSecrets == ["token": Self.secret])

            // An edit without build_secrets keeps them (a config read back from GET has only ids) ...
            var edited = config
            edited["credentials"] = nil
            edited["build_args"] = ["CHANNEL": "beta"]
            var (s, answer2) = try await h.api(.put, "\(H.base)/\(uuid)", ["config": edited])
            #expect(s == 200, "\(answer2)")
            var after = try await h.trigger(uuid)
            #expect(after.buildSecretsSealed == sealed && after.config.buildSecretIDs == ["token"] && after.config.buildArgs == ["CHANNEL": "beta"])
            // ... bad secrets change nothing ...
            edited["build_secrets"] = ["../x": "v"]
            (s, answer2) = try await h.api(.put, "\(H.base)/\(uuid)", ["config": edited])
            #expect(s == 400 && (answer2["error_message"] as? String)?.contains("not a valid secret id") == true, "\(answer2)")
            edited["build_secrets"] = ["t": 5]
            (s, answer2) = try await h.api(.put, "\(H.base)/\(uuid)", ["config": edited])
            #expect(s == 400 && (answer2["error_message"] as? String)?.contains("must be a string") == true, "\(answer2)")
            #expect(try await h.trigger(uuid).buildSecretsSealed == sealed)
            // ... and {} removes them.
            edited["build_secrets"] = [String: String]()
            (s, answer2) = try await h.api(.put, "\(H.base)/\(uuid)", ["config": edited])
            #expect(s == 200, "\(answer2)")
            after = try await h.trigger(uuid)
            #expect(after.buildSecretsSealed == nil && after.config.buildSecretIDs.isEmpty)
        }
    }
}

extension TriggerBuildInputsTests {
    /// `config.cache_repository`: checked with the configuring user's access, stored as
    /// `namespace/name`, and carried by every build the trigger queues (acting for the trigger's
    /// connected user).
    @Test(arguments: TestBackend.available)
    func triggerBuildsUseTheTriggersLayerCache(backend: TestBackend) async throws {
        try await H.run(backend) { h in
            let uuid = try await h.create()
            var (status, answer) = try await h.api(.post, "\(H.base)/\(uuid)/activate", ["config": [
                "build_source": H.source, "dockerfile_path": "/Dockerfile", "context": "/", "cache_repository": "cache"]])
            #expect(status == 400 && (answer["error_message"] as? String)?.contains("config.cache_repository admin/cache does not exist") == true, "\(answer)")
            let admin = try #require(try await h.registry.services.accounts.namespace(named: TestRegistry.adminName))
            _ = try await h.registry.services.accounts.createRepository(namespaceID: admin.id, name: "cache", visibility: .private)
            (status, answer) = try await h.api(.post, "\(H.base)/\(uuid)/activate", ["config": [
                "build_source": H.source, "dockerfile_path": "/Dockerfile", "context": "/", "cache_repository": "cache"]])
            #expect(status == 200, "\(answer)")
            #expect((answer["config"] as? [String: Any])?["cache_repository"] as? String == "admin/cache")
            let hookSecret = try #require(H.secret(fromView: answer))
            let (hook, queued) = try await h.webhook(uuid, secret: hookSecret, PayloadFixtures.custom)
            #expect(hook == 200, "\(queued)")
            let build = try await h.build(queued["build_id"])
            #expect(build.cacheRepository == "admin/cache" && build.cacheUserID == admin.id)
        }
    }
}

/// The scripted worker of the builds API tests, for a trigger's build.
struct BuildsAPITestsWorker {
    let c: RegistryClient
    let token: String
    func lease() async throws -> BuildPack? {
        let r = try await c.client.executeRequest(uri: WorkerProtocol.leasePath, method: .post,
                                                  headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                                                  body: ByteBuffer(bytes: try JSONEncoder().encode(LeaseRequest(workerID: "w1"))))
        guard r.status == .ok else { return nil }
        return try JSONDecoder().decode(BuildPack.self, from: Data(buffer: r.body))
    }
}
