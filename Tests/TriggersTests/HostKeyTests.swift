import BuildOrchestrator
import BuildProtocol
import Foundation
import GitRemote
import Registry
import SlipwayTestSupport
import Testing
@testable import Triggers

/// Issue #16 item 6: a trigger's ssh clones check the git server's host key. The keys are read
/// from a real sshd when the trigger is activated (trust on first use), shown with fingerprints,
/// handed to the worker at lease time, checked by the server's own ref listing, and replaced
/// only when the user accepts a new one.
@Suite("Trigger ssh host keys", .serialized)
struct HostKeyTests {
    typealias H = TriggerHarness

    static func keysView(_ view: [String: Any]) -> [String: Any] { view["ssh_host_keys"] as? [String: Any] ?? [:] }
    static func fingerprints(_ view: [String: Any]) -> [String] {
        ((keysView(view)["keys"] as? [[String: Any]]) ?? []).compactMap { $0["fingerprint"] as? String }
    }

    @Test func theScannerReadsEveryHostKeyOfARealSSHD() async throws {
        try await GitServers.with { git in
            let expected = try await git.startSSHD(authorizedKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3nonexistent x")
            let keys = try await SSHHostKeyScanner().scan(address: "127.0.0.1", port: git.sshPort)
            #expect(Set(keys.map(\.fingerprint)) == Set(expected), "\(keys)")
            #expect(Set(keys.map(\.type)) == ["ssh-ed25519", "ecdsa-sha2-nistp256"])
            // The blob is the key ssh-keygen wrote.
            let pub = try String(contentsOf: git.sshDirectory.appendingPathComponent("hostkey_ed25519.pub"), encoding: .utf8)
            #expect(keys.contains { pub.hasPrefix("ssh-ed25519 \($0.key) ") || pub.hasPrefix("ssh-ed25519 \($0.key)\n") })

            // Nothing listens: a clear failure, no key.
            await git.stopSSHD()
            await #expect(throws: SSHHostKeyScanner.Failure.self) { try await SSHHostKeyScanner().scan(address: "127.0.0.1", port: git.sshPort) }
            // Something that is not an ssh server.
            let error = await #expect(throws: SSHHostKeyScanner.Failure.self) {
                try await SSHHostKeyScanner(timeout: .seconds(3)).scan(address: "127.0.0.1", port: git.daemonPort)
            }
            #expect(error?.description.contains("ssh") == true, "\(error?.description ?? "")")
        }
    }

    @Test(arguments: TestBackend.available)
    func activationRecordsTheKeyAndALeasedBuildCarriesIt(backend: TestBackend) async throws {
        try await GitServers.with { git in
            let expected = try await git.startSSHD(authorizedKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3nonexistent x")
            try await H.run(backend) { h in
                // The wizard's analyse step reads the key already and shows it.
                let uuid = try await h.create()
                let (status, analysis) = try await h.api(.post, "\(H.base)/\(uuid)/analyze", ["config": ["build_source": git.sshURL]])
                #expect(status == 200 && Set(Self.fingerprints(analysis)) == Set(expected), "\(analysis)")
                let (activated, view) = try await h.api(.post, "\(H.base)/\(uuid)/activate", ["config": ["build_source": git.sshURL]])
                #expect(activated == 200, "\(view)")
                let keys = Self.keysView(view)
                #expect(keys["status"] as? String == "recorded" && keys["source"] as? String == "scanned", "\(keys)")
                #expect(keys["endpoint"] as? String == "127.0.0.1:\(git.sshPort)")
                #expect(Set(Self.fingerprints(view)) == Set(expected))
                #expect((keys["known_hosts"] as? [String])?.first?.hasPrefix("[127.0.0.1]:\(git.sshPort) ssh-ed25519 AAAA") == true, "\(keys)")

                let stored = try await h.trigger(uuid)
                let policy = try #require(try await h.registry.buildFarm.hooks.gitHostKeys?(stored.id))
                #expect(Set(policy.keys.map(\.fingerprint)) == Set(expected))
                #expect(policy.acceptPath == "/api/v1/repository/admin/app/trigger/\(uuid)/hostkeys")

                // Non-ssh sources check no host key.
                let (https, _) = try await h.activated(config: ["build_source": "https://git.example.com/a.git"])
                #expect(try await h.api(.get, "\(H.base)/\(https)").1["ssh_host_keys"] is NSNull)
                #expect(try await h.registry.buildFarm.hooks.gitHostKeys?(try await h.trigger(https).id) == nil)
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func aTriggerWithoutARecordedKeyTrustsItsFirstBuildsKeyAndNoLaterOne(backend: TestBackend) async throws {
        try await GitServers.with { git in
            try await H.run(backend) { h in
                // Activated while the server is down (or by a Slipway that recorded no keys).
                let port = GitServers.freePort()
                let url = "ssh://root@127.0.0.1:\(port)\(git.bare.path)"
                let (uuid, _) = try await h.activated(config: ["build_source": url])
                var (_, view) = try await h.api(.get, "\(H.base)/\(uuid)")
                #expect(Self.keysView(view)["status"] as? String == "not_recorded", "\(view)")
                let id = try await h.trigger(uuid).id
                let down = try #require(try await h.registry.buildFarm.hooks.gitHostKeys?(id))
                #expect(down.keys.isEmpty && down.missingReason?.contains("cannot connect") == true, "\(down)")

                // The first build after the server is up records its key.
                git.useSSHPort(port)
                let first = try await git.startSSHD(authorizedKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3nonexistent x")
                let policy = try #require(try await h.registry.buildFarm.hooks.gitHostKeys?(id))
                #expect(Set(policy.keys.map(\.fingerprint)) == Set(first))
                (_, view) = try await h.api(.get, "\(H.base)/\(uuid)")
                #expect(Self.keysView(view)["source"] as? String == "first_build")

                // A new key later is not trusted silently: the lease still carries the first one.
                let second = try await git.replaceHostKeys()
                #expect(Set(first).isDisjoint(with: second))
                let later = try #require(try await h.registry.buildFarm.hooks.gitHostKeys?(id))
                #expect(Set(later.keys.map(\.fingerprint)) == Set(first))
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func aChangedKeyIsRefusedUntilTheUserAcceptsIt(backend: TestBackend) async throws {
        try await GitServers.with { git in
            _ = try await git.startSSHD(authorizedKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3nonexistent x")
            try await H.run(backend) { h in
                let (uuid, _) = try await h.activated(config: ["build_source": git.sshURL, "default_branch": "main"])
                var (_, view) = try await h.api(.get, "\(H.base)/\(uuid)")
                try git.authorize(try #require(H.credentials(view)["SSH Public Key"]))
                let main = try await git.commit("refs/heads/main")

                // The server's own ref listing (a run by branch) uses the pinned key too.
                var (status, run) = try await h.api(.post, "\(H.base)/\(uuid)/start", ["branch_name": "main"])
                #expect(status == 201 && run["tags"] as? [String] == ["main", "latest"], "\(run)")
                #expect(try await h.build(run["id"]).commitSHA == main)

                let old = Self.fingerprints(view)
                let new = try await git.replaceHostKeys()
                (status, run) = try await h.api(.post, "\(H.base)/\(uuid)/start", ["branch_name": "main"])
                let refusal = run["error_message"] as? String ?? ""
                #expect(status == 400 && refusal.contains("has changed"), "\(run)")
                #expect(new.contains { refusal.contains($0) } && old.contains { refusal.contains($0) }, "\(refusal)")
                #expect(refusal.contains("/api/v1/repository/admin/app/trigger/\(uuid)/hostkeys"), "\(refusal)")

                // Accepting needs the fingerprint the server presents.
                (status, view) = try await h.api(.post, "\(H.base)/\(uuid)/hostkeys", ["fingerprint": "SHA256:notthekey"])
                #expect(status == 400 && (view["error_message"] as? String)?.contains("nothing was changed") == true, "\(view)")
                (status, view) = try await h.api(.post, "\(H.base)/\(uuid)/hostkeys", ["fingerprint": new[0]])
                #expect(status == 200 && Set(Self.fingerprints(view)) == Set(new), "\(view)")
                #expect(Self.keysView(view)["source"] as? String == "accepted")
                (status, run) = try await h.api(.post, "\(H.base)/\(uuid)/start", ["branch_name": "main"])
                #expect(status == 201, "\(run)")

                // Pasted known_hosts lines are trusted as given; a bad line changes nothing.
                let lines = try await git.knownHosts()
                (status, view) = try await h.api(.post, "\(H.base)/\(uuid)/hostkeys", ["known_hosts": "# from ssh-keyscan\n" + lines])
                #expect(status == 200 && Self.keysView(view)["source"] as? String == "pasted" && Set(Self.fingerprints(view)) == Set(new))
                (status, view) = try await h.api(.post, "\(H.base)/\(uuid)/hostkeys", ["known_hosts": "127.0.0.1 ssh-ed25519 notbase64!"])
                #expect(status == 400 && (view["error_message"] as? String)?.contains("line 1 is not a known_hosts line") == true, "\(view)")
                (status, view) = try await h.api(.post, "\(H.base)/\(uuid)/hostkeys", ["known_hosts": "@revoked * " + lines])
                #expect(status == 400, "\(view)")

                // The same lines can come with the config, at activation or in an edit.
                let (pastedUUID, _) = try await h.activated(config: ["build_source": git.sshURL, "ssh_known_hosts": lines])
                #expect(Self.keysView(try await h.api(.get, "\(H.base)/\(pastedUUID)").1)["source"] as? String == "pasted")
                (status, view) = try await h.api(.put, "\(H.base)/\(pastedUUID)", ["config": ["build_source": "https://x.example.com/a.git",
                                                                                             "ssh_known_hosts": lines]])
                #expect(status == 400 && (view["error_message"] as? String)?.contains("ssh_known_hosts is for ssh URLs") == true, "\(view)")
                #expect(try await h.api(.post, "\(H.base)/\(pastedUUID)/hostkeys", [:]).0 == 200, "a plain re-read pins what the server presents")
            }
        }
    }

    @Test(arguments: [
        ("ssh://git@git.example.com:2222/srv/app.git", "git.example.com:2222"), ("ssh://git.example.com/x", "git.example.com:22"),
        ("git+ssh://u@H.example.com:7/x", "h.example.com:7"), ("git@github.com:acme/app.git", "github.com:22"),
        ("github.com:acme/app.git", "github.com:22"), ("ssh://[::1]:2200/x", "[::1]:2200"), ("git@[::1]:x.git", "[::1]:22"),
    ])
    func sshEndpoints(_ url: String, _ endpoint: String) {
        #expect(SSHEndpoint.parse(url)?.description == endpoint, "\(url)")
    }

    @Test(arguments: ["https://github.com/a/b.git", "git://127.0.0.1/x.git", "http://h/x", "ssh://:22/x", "ssh://h:99999/x", "a:b"])
    func notSSHEndpoints(_ url: String) {
        #expect(SSHEndpoint.parse(url) == nil, "\(url)")
    }

    @Test func policyVerdicts() throws {
        let blob = Data([0, 0, 0, 11] + Array("ssh-ed25519".utf8) + [0, 0, 0, 32] + Array(repeating: 7, count: 32))
        let pinned = SSHHostKey(type: "ssh-ed25519", key: blob.base64EncodedString(), fingerprint: KnownHostsLines.fingerprint(blob))
        let policy = GitHostKeyPolicy(endpoint: "h:22", keys: [pinned], acceptPath: "/api/v1/repository/a/b/trigger/u/hostkeys")
        #expect(GitHostKeyPolicy.verdict(for: policy, host: "h", presented: blob, fingerprint: pinned.fingerprint) == .trusted)
        var other = blob
        other[other.count - 1] = 8
        guard case .refused(let changed) = GitHostKeyPolicy.verdict(for: policy, host: "h", presented: other, fingerprint: "SHA256:new") else {
            Issue.record("a different key was trusted")
            return
        }
        #expect(changed.contains("has changed") && changed.contains("ssh-ed25519 SHA256:new") && changed.contains(pinned.fingerprint))
        #expect(changed.contains(#"POST /api/v1/repository/a/b/trigger/u/hostkeys and the body {"fingerprint":"SHA256:new"}"#), "\(changed)")
        guard case .refused(let none) = GitHostKeyPolicy.verdict(for: nil, host: "h", presented: blob, fingerprint: "SHA256:x"),
              case .refused(let empty) = GitHostKeyPolicy.verdict(for: GitHostKeyPolicy(endpoint: "h:22", keys: [], missingReason: "refused"),
                                                                  host: "h", presented: blob, fingerprint: "SHA256:x") else {
            Issue.record("a key was trusted without a policy")
            return
        }
        #expect(none.contains("carries no trusted host keys"))
        #expect(empty.contains("no ssh host key is recorded") && empty.contains("refused"))
    }
}
