import Accounts
import BuildProtocol
import Foundation
import GitRemote
import NIOCore
import OutboundHTTP
import Registry
import SlipwayCore

/// Which ssh host keys a trigger's clones trust, and when they are learnt:
///
/// - pasted `known_hosts` lines (`config.ssh_known_hosts`, or `POST .../hostkeys`) are trusted
///   as given;
/// - otherwise the server reads the git server's keys (an ssh handshake, no login) when the
///   trigger is analysed, activated, or its `build_source` moves to another server, and trusts
///   them from then on (trust on first use, shown with fingerprints in the trigger view);
/// - a trigger with nothing recorded (activated before keys were recorded, or whose server
///   could not be reached then) has its keys read for its first build, once;
/// - a key that later differs fails the build, naming both fingerprints; `POST .../hostkeys`
///   accepts the new key.
///
/// The handshake goes out from the API server, to the host the trigger's URL names. Private and
/// loopback addresses are allowed, as they are for the clone itself (self-hosted git servers live
/// there); cloud metadata, unspecified and multicast addresses are refused.
struct TriggerHostKeys: Sendable {
    let services: RegistryServices
    let store: TriggerStore
    let scanner: SSHHostKeyScanner

    init(services: RegistryServices, store: TriggerStore, scanner: SSHHostKeyScanner = SSHHostKeyScanner()) {
        self.store = store
        self.services = services
        self.scanner = scanner
    }

    /// Reads the keys `endpoint` presents now; on failure, a record with the reason and no key.
    func scan(_ endpoint: SSHEndpoint, source: PinnedHostKeys.Source) async -> PinnedHostKeys {
        var failure = "no address"
        do {
            for address in try await GitHostContact.addresses(host: endpoint.host, port: endpoint.port) {
                do {
                    let keys = try await scanner.scan(address: address, port: endpoint.port)
                    return PinnedHostKeys(endpoint: endpoint.description, keys: keys, source: source)
                } catch {
                    failure = "\(error)"
                }
            }
        } catch {
            failure = "\(error)"
        }
        return PinnedHostKeys(endpoint: endpoint.description, keys: [], source: nil, error: failure)
    }

    /// The keys to store for a config being activated or changed: the pasted ones; else the
    /// trigger's current ones if they belong to the same server; else a fresh read. Nil when the
    /// source is not an ssh URL.
    func keys(for config: TriggerConfig, pasted: [SSHHostKey]?, current: PinnedHostKeys?) async -> PinnedHostKeys? {
        guard let source = config.buildSource, let endpoint = SSHEndpoint.parse(source) else { return nil }
        if let pasted { return PinnedHostKeys(endpoint: endpoint.description, keys: pasted, source: .pasted) }
        if let current, current.endpoint == endpoint.description, current.isTrusting { return current }
        return await scan(endpoint, source: .scanned)
    }

    /// The keys a clone of `trigger` trusts (the build pack's `sshHostKeys`, and the manual run's
    /// ref listing). Nothing recorded yet: the keys are read now and kept (trust on first use).
    func policy(for trigger: BuildTrigger) async throws -> GitHostKeyPolicy? {
        guard let source = trigger.config.buildSource, let endpoint = SSHEndpoint.parse(source) else { return nil }
        var pins = trigger.hostKeys
        if pins == nil || pins?.endpoint != endpoint.description || pins?.isTrusting != true {
            let fresh = await scan(endpoint, source: .firstBuild)
            if try await store.replaceTriggerHostKeys(id: trigger.id, expected: trigger.hostKeys, with: fresh) {
                pins = fresh
                if fresh.isTrusting {
                    services.logger.info("trigger ssh host keys trusted on first use", metadata: [
                        "trigger.id": "\(trigger.uuid)", "endpoint": "\(fresh.endpoint)",
                        "fingerprints": "\(fresh.keys.map(\.description).joined(separator: ", "))",
                    ])
                } else {
                    services.logger.warning("trigger ssh host keys could not be read", metadata: [
                        "trigger.id": "\(trigger.uuid)", "endpoint": "\(fresh.endpoint)", "error": "\(fresh.error ?? "")",
                    ])
                }
            } else {
                // Recorded (or accepted) meanwhile: that record wins.
                pins = try await store.trigger(id: trigger.id)?.hostKeys ?? fresh
            }
        }
        let repository = try await services.accounts.repositoryByID(trigger.repositoryID)
        return GitHostKeyPolicy(endpoint: endpoint.description, keys: pins?.keys ?? [], missingReason: pins?.error,
                                acceptPath: repository.map { "/api/v1/repository/\($0.path)/trigger/\(trigger.uuid)/hostkeys" })
    }

    /// The trigger view's `ssh_host_keys`: null for non-ssh sources.
    static func view(_ trigger: BuildTrigger) -> EventValue {
        guard let source = trigger.config.buildSource, let endpoint = SSHEndpoint.parse(source) else { return .null }
        guard let pins = trigger.hostKeys, pins.endpoint == endpoint.description else {
            return .object(["endpoint": .string(endpoint.description), "status": .string("not_recorded"), "source": .null,
                            "recorded": .null, "keys": .array([]), "known_hosts": .strings([]),
                            "message": .string("no host key recorded yet: the first build reads it, or paste known_hosts lines")])
        }
        return pins.view
    }
}

/// The addresses the API server may contact for a trigger's git host.
enum GitHostContact {
    struct Refusal: Error, CustomStringConvertible { let description: String }

    /// Numeric addresses of `host`, refusing cloud metadata, unspecified and multicast ones.
    static func addresses(host: String, port: Int) async throws -> [String] {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        let target: URLSafety.Target
        do {
            target = try await URLSafety.check("http://\(bracketed):\(port)/", allowPrivate: true)
        } catch {
            throw Refusal(description: "\(host) cannot be resolved")
        }
        var out: [String] = []
        for address in target.addresses {
            guard let ip = IPAddress(address) else { continue }
            if let why = URLSafety.forbiddenReason(ip), ["cloud metadata", "unspecified", "multicast"].contains(why) {
                throw Refusal(description: "\(host) resolves to a \(why) address (\(ip)), which Slipway does not contact")
            }
            if !out.contains(ip.description) { out.append(ip.description) }
        }
        guard !out.isEmpty else { throw Refusal(description: "\(host) cannot be resolved") }
        return out
    }
}
