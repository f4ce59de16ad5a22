import BuildProtocol
import Foundation
import GitRemote
import Registry
import SlipwayCore

/// Turns the branch or tag of a manual trigger run into the commit it builds, by listing the
/// git server's refs (with the trigger's deploy key and pinned ssh host keys, as the clone
/// will). With the commit known when the build is queued, a run computes its tags with the same
/// metadata and the same rules (`TriggerTags`) as a webhook for that push: templates such as
/// `${commit_info.short_sha}` render, and `latest` follows the server's default branch when the
/// trigger does not name one. The clone then checks out exactly that commit.
struct ManualRunRefs: Sendable {
    let services: RegistryServices
    let hostKeys: TriggerHostKeys
    let lister: GitRemoteRefs

    init(services: RegistryServices, hostKeys: TriggerHostKeys, lister: GitRemoteRefs = GitRemoteRefs()) {
        self.services = services
        self.hostKeys = hostKeys
        self.lister = lister
    }

    /// `metadata` with `commit` (and `default_branch` when the trigger has none) filled in from
    /// the server's refs; unchanged when it names a commit already.
    func resolve(_ trigger: BuildTrigger, metadata input: [String: EventValue]) async throws -> [String: EventValue] {
        guard input["commit"] == nil, let ref = input["ref"]?.stringValue, let parsed = GitRefRules.parse(ref) else { return input }
        guard let source = trigger.config.buildSource else { throw DomainError.invalidInput("the trigger has no build_source") }
        let what = parsed.kind == "tags" ? "tag '\(parsed.name)'" : "branch '\(parsed.name)'"
        let fallback = "; start the run with commit_sha instead"
        if let host = Self.host(of: source) {
            do {
                _ = try await GitHostContact.addresses(host: host.name, port: host.port)
            } catch {
                throw DomainError.invalidInput("cannot look up \(what) in \(source): \(error)\(fallback)")
            }
        }
        var key: String?
        if SSHEndpoint.parse(source) != nil, let sealed = trigger.privateKeySealed {
            key = try services.secretBox.open(sealed, context: BuildTrigger.sealContext(trigger.uuid, "deploy-key"))
        }
        let policy = try await hostKeys.policy(for: trigger)
        let listing: GitRemoteRefs.Listing
        do throws(GitRemoteRefs.Failure) {
            listing = try await lister.list(url: source, sshPrivateKey: key, sshHostKeys: policy)
        } catch {
            switch error.code {
            case .hostKeyRefused: throw DomainError.invalidInput("cannot look up \(what): \(error.description)")
            case .unreachable, .timedOut: throw DomainError.invalidInput("cannot look up \(what) in \(source): \(error.description)\(fallback)")
            }
        }
        guard let commit = listing.refs[ref] else {
            throw DomainError.invalidInput("\(what) does not exist in \(source)")
        }
        var metadata = input
        metadata["commit"] = .string(commit)
        if metadata["default_branch"] == nil, let branch = listing.defaultBranch { metadata["default_branch"] = .string(branch) }
        return metadata
    }

    /// Host and port of an https, http, git or ssh URL (scp-like included).
    static func host(of url: String) -> (name: String, port: Int)? {
        if let ssh = SSHEndpoint.parse(url) { return (ssh.host, ssh.port) }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              var host = components.host?.lowercased(), !host.isEmpty else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = components.port ?? ["https": 443, "http": 80, "git": 9418][scheme] ?? 0
        return (host, port)
    }
}
