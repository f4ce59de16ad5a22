import BuildOrchestrator
import BuildProtocol
import Registry
import SlipwayCore

/// The triggers module's answers to the build farm about a trigger build's source. The deploy
/// key is unsealed only when a worker leases the build and travels only in the lease
/// response; the ssh host keys are resolved then too (a trigger with none recorded has them
/// read now: trust on first use by its first build). Build views show the short trigger view,
/// without credentials.
struct TriggerBuildSources: BuildSourceSecrets {
    let store: TriggerStore
    let box: SecretBox
    let hostKeys: TriggerHostKeys
    let views: TriggerViews

    init(services: RegistryServices, store: TriggerStore) {
        self.store = store
        self.box = services.secretBox
        self.hostKeys = TriggerHostKeys(services: services, store: store)
        self.views = TriggerViews(services: services)
    }

    func deployKey(triggerID: Int64) async throws -> String? {
        guard let t = try await store.trigger(id: triggerID), let sealed = t.privateKeySealed else { return nil }
        return try box.open(sealed, context: BuildTrigger.sealContext(t.uuid, "deploy-key"))
    }

    func gitHostKeys(triggerID: Int64) async throws -> GitHostKeyPolicy? {
        guard let t = try await store.trigger(id: triggerID) else { return nil }
        return try await hostKeys.policy(for: t)
    }

    func triggerSummary(triggerID: Int64) async throws -> EventValue? {
        guard let t = try await store.trigger(id: triggerID) else { return nil }
        var v = try await views.view(t, baseURL: nil, canAdmin: false)
        v["config"] = .object(t.config.object)
        return .object(v)
    }
}
