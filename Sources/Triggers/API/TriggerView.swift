import Accounts
import BuildOrchestrator
import BuildProtocol
import Foundation
import Registry
import SlipwayCore

/// Quay's `trigger_view` (§1.5), plus Slipway's failure counters. Admins see the config with
/// `credentials`: the deploy key's public half and the webhook URL that carries the trigger's
/// secret, and `ssh_host_keys`: the git server keys its clones trust. Build views get the short
/// form without any config secrets.
struct TriggerViews: Sendable {
    let services: RegistryServices

    static let sshKeyName = "SSH Public Key"
    static let webhookName = "Webhook Endpoint URL"

    /// `scheme://$token:<secret>@host[:port]/webhooks/push/trigger/<uuid>`: what a git server
    /// posts to; HTTP clients turn the user-info into Basic credentials.
    static func webhookURL(baseURL: String, uuid: String, secret: String) -> String {
        let parts = baseURL.components(separatedBy: "://")
        let scheme = parts.count == 2 ? parts[0] : "http"
        let host = parts.count == 2 ? parts[1] : baseURL
        return "\(scheme)://$token:\(secret)@\(host)/webhooks/push/trigger/\(uuid)"
    }

    func urlSecret(_ t: BuildTrigger) -> String? {
        guard let sealed = t.urlSecretSealed else { return nil }
        return try? services.secretBox.open(sealed, context: BuildTrigger.sealContext(t.uuid, "url"))
    }

    func credentials(_ t: BuildTrigger, baseURL: String) -> EventValue? {
        guard t.isActive else { return nil }
        var creds: [EventValue] = []
        if let key = t.publicKey { creds.append(.object(["name": .string(Self.sshKeyName), "value": .string(key)])) }
        if let secret = urlSecret(t) {
            creds.append(.object(["name": .string(Self.webhookName), "value": .string(Self.webhookURL(baseURL: baseURL, uuid: t.uuid, secret: secret))]))
        }
        return .array(creds)
    }

    func repositoryURL(_ t: BuildTrigger) -> EventValue {
        guard t.service != "custom-git", let source = t.config.buildSource, let url = GitURLRules.webURL(source) else { return .null }
        return .string(url)
    }

    /// The full view; `baseURL` nil means "no credentials" (build views, non-admins).
    func view(_ t: BuildTrigger, baseURL: String?, canAdmin: Bool, counters: TriggerLifecycle.Counters? = nil) async throws -> [String: EventValue] {
        var config: [String: EventValue] = [:]
        if canAdmin {
            config = t.config.object
            if let baseURL, let creds = credentials(t, baseURL: baseURL) { config["credentials"] = creds }
            config["has_webhook_secret"] = .bool(t.signingSecretSealed != nil)
        }
        var v: [String: EventValue] = [
            "id": .string(t.uuid), "service": .string(t.service), "is_active": .bool(t.isActive),
            "build_source": t.config.buildSource.map(EventValue.string) ?? .null,
            "repository_url": repositoryURL(t), "config": .object(config), "can_invoke": .bool(canAdmin), "enabled": .bool(t.enabled),
            "disabled_reason": t.disabledReason.map { .string($0.rawValue) } ?? .null,
            "disabled_datetime": t.disabledAt.map { .string(APIDates.rfc2822(millis: $0)) } ?? .null,
            "connected_user": .null, "pull_robot": .null,
        ]
        if let id = t.connectedUserID, let user = try await services.accounts.namespace(id: id) { v["connected_user"] = .string(user.name) }
        if let id = t.pullRobotID, let robot = try await services.accounts.namespace(id: id) {
            v["pull_robot"] = .object(["name": .string(robot.name), "kind": .string("user"), "is_robot": .bool(true)])
        }
        if canAdmin {
            // Slipway: the ssh host keys the trigger's clones trust, with fingerprints.
            v["ssh_host_keys"] = TriggerHostKeys.view(t)
        }
        if let counters {
            v["successive_failure_count"] = .int(Int64(counters.failures))
            v["successive_internal_error_count"] = .int(Int64(counters.internalErrors))
        }
        return v
    }

    static func activity(_ a: TriggerActivity) -> EventValue {
        .object([
            "source": .string(a.source), "outcome": .string(a.outcome.rawValue), "reason": a.reason.map(EventValue.string) ?? .null,
            "ref": a.ref.map(EventValue.string) ?? .null, "commit": a.commit.map(EventValue.string) ?? .null,
            "build_id": a.buildUUID.map(EventValue.string) ?? .null, "datetime": .string(APIDates.rfc2822(millis: a.createdAt)),
        ])
    }

    /// A build in the shape of the builds API's view (§1.4), for `start` and the trigger's
    /// build list.
    func buildView(_ b: BuildRecord, repository: Repository, trigger: BuildTrigger?) async throws -> [String: EventValue] {
        let manual = try await b.manualUserID.asyncMapValue { try await services.accounts.namespace(id: $0)?.name }
        let robot = try await b.pullRobotID.asyncMapValue { try await services.accounts.namespace(id: $0)?.name }
        var triggerValue: EventValue = .null
        if let trigger { triggerValue = .object(try await view(trigger, baseURL: nil, canAdmin: false)) }
        func opt(_ s: String?) -> EventValue { s.map(EventValue.string) ?? .null }
        return [
            "id": .string(b.uuid), "phase": .string(b.phase.rawValue), "started": .string(APIDates.rfc2822(millis: b.queuedAt)),
            "display_name": .string(b.displayName), "status": .object([:]), "error": opt(b.errorMessage),
            "subdirectory": .string(b.subdirectory), "dockerfile_path": .string(b.dockerfilePath), "context": .string(b.context),
            "tags": .strings(b.tags), "resource_key": .null, "archive_url": .null, "manual_user": opt(manual ?? nil), "is_writer": .bool(true),
            "trigger_metadata": b.triggerMetadata.flatMap(EventValue.parse) ?? .null, "trigger": triggerValue, "pull_robot": opt(robot ?? nil),
            "repository": .object(["namespace": .string(repository.namespace), "name": .string(repository.name)]),
            "manifest_digests": .object(b.manifestDigests.mapValues(EventValue.string)),
        ]
    }
}

extension Optional {
    func asyncMapValue<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
