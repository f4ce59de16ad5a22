import BuildProtocol
@testable import BuildWorker
import Foundation
import Testing

@Suite(.timeLimit(.minutes(1)))
struct GitSourceTests {
    @Test(arguments: [
        "file:///tmp/repo.git", "/tmp/repo.git", "repo.git", "./repo", "ext::sh -c touch% /tmp/pwned",
        "fd::17", "ftp://example.com/repo.git", "https:///nohost",
    ])
    func refusesLocalAndHelperURLs(url: String) async throws {
        let scratch = try Scratch("git-refuse")
        await #expect(throws: GitSourceError.self) {
            try await GitSource().clone(url: url, commit: String(repeating: "a", count: 40), into: scratch.sub("out"), sshPrivateKey: nil)
        }
        do throws(GitSourceError) {
            try GitSource.vet(url: url, allowLocal: false)
            Issue.record("\(url) accepted")
        } catch {
            #expect(error.code == .refusedURL)
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.sub("out").path))
    }

    @Test(arguments: ["https://github.com/a/b.git", "http://127.0.0.1:8088/git/repo.git", "git://127.0.0.1:9418/repo.git",
                      "ssh://git@example.com:2222/a/b.git", "git@github.com:a/b.git"])
    func acceptsNetworkURLs(url: String) throws {
        try GitSource.vet(url: url, allowLocal: false)
    }

    @Test func localSourcesOnlyWhenAllowed() throws {
        try GitSource.vet(url: "/tmp/repo.git", allowLocal: true)
        try GitSource.vet(url: "file:///tmp/repo.git", allowLocal: true)
        #expect(throws: GitSourceError.self) { try GitSource.vet(url: "ext::sh", allowLocal: true) }
    }

    @Test func clonesTheExactCommitOverGitProtocol() async throws {
        try await GitFixture.with { git in
            try await git.commit(["a.txt": "one\n", "dir/b.txt": "b\n"])
            let first = try await git.head()
            try await git.commit(["a.txt": "two\n", "c.txt": "new\n"])

            let out = git.scratch.sub("out")
            try await GitSource().clone(url: git.daemonURL, commit: first, into: out, sshPrivateKey: nil)
            #expect(try String(contentsOf: out.appendingPathComponent("a.txt"), encoding: .utf8) == "one\n")
            #expect(try String(contentsOf: out.appendingPathComponent("dir/b.txt"), encoding: .utf8) == "b\n")
            #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("c.txt").path))
            #expect(try await TestShell.run("git -C \(out.path) rev-parse HEAD").trimmingCharacters(in: .whitespacesAndNewlines) == first)

            // The newer commit too, into a fresh directory.
            let second = try await git.head()
            let out2 = git.scratch.sub("out2")
            try await GitSource().clone(url: git.daemonURL, commit: second, into: out2, sshPrivateKey: nil)
            #expect(try String(contentsOf: out2.appendingPathComponent("a.txt"), encoding: .utf8) == "two\n")
        }
    }

    /// A manual trigger run names a branch or a tag; the worker resolves it after fetching.
    @Test func resolvesBranchAndAnnotatedTagRefs() async throws {
        try await GitFixture.with { git in
            try await git.commit(["a.txt": "tagged\n"])
            let tagged = try await git.head()
            try await TestShell.run("""
                git -c user.name=Dev -c user.email=dev@example.com tag -a v1.0 -m release && git push -q origin v1.0
                """, in: git.tree)
            try await git.commit(["a.txt": "tip\n"])
            let out = git.scratch.sub("branch")
            try await GitSource().clone(url: git.daemonURL, commit: "refs/heads/main", into: out, sshPrivateKey: nil)
            #expect(try String(contentsOf: out.appendingPathComponent("a.txt"), encoding: .utf8) == "tip\n")
            let outShort = git.scratch.sub("short")
            try await GitSource().clone(url: git.daemonURL, commit: String(tagged.prefix(9)), into: outShort, sshPrivateKey: nil)
            #expect(try String(contentsOf: outShort.appendingPathComponent("a.txt"), encoding: .utf8) == "tagged\n")
            let outTag = git.scratch.sub("tag")
            try await GitSource().clone(url: git.daemonURL, commit: "refs/tags/v1.0", into: outTag, sshPrivateKey: nil)
            #expect(try await TestShell.run("git -C \(outTag.path) rev-parse HEAD").trimmingCharacters(in: .whitespacesAndNewlines) == tagged)
            await #expect(throws: GitSourceError.self) {
                try await GitSource().clone(url: git.daemonURL, commit: "refs/heads/nope", into: git.scratch.sub("nope"), sshPrivateKey: nil)
            }
            for bad in ["refs/heads/../x", "refs/heads/a b", "refs/remotes/origin/main", "main", "refs/tags/x^{tree}"] {
                #expect(!GitSource.isRef(bad), "\(bad)")
            }
        }
    }

    @Test func unknownCommitAndUnreachableHostAreClearErrors() async throws {
        try await GitFixture.with { git in
            try await git.commit(["a.txt": "one\n"])
            let missing = String(repeating: "0123456789", count: 4)
            do throws(GitSourceError) {
                try await GitSource().clone(url: git.daemonURL, commit: missing, into: git.scratch.sub("x"), sshPrivateKey: nil)
                Issue.record("cloned a missing commit")
            } catch {
                #expect(error.code == .commitNotFound)
                #expect(error.message == "commit \(missing) not found in \(git.daemonURL)")
            }
            #expect(!FileManager.default.fileExists(atPath: git.scratch.sub("x").path))

            let closed = "git://127.0.0.1:\(Ports.free())/repo.git"
            do throws(GitSourceError) {
                try await GitSource().clone(url: closed, commit: missing, into: git.scratch.sub("y"), sshPrivateKey: nil)
                Issue.record("cloned from a closed port")
            } catch {
                #expect(error.code == .fetchFailed)
                #expect(error.message.hasPrefix("cannot fetch \(closed): "), "\(error.message)")
            }

            do throws(GitSourceError) {
                try await GitSource().clone(url: git.daemonURL, commit: "main", into: git.scratch.sub("z"), sshPrivateKey: nil)
                Issue.record("accepted a branch name")
            } catch {
                #expect(error.code == .invalidCommit)
            }
        }
    }

    @Test func localPathCloneWhenAllowed() async throws {
        try await GitFixture.with { git in
            try await git.commit(["a.txt": "local\n"])
            let out = git.scratch.sub("out")
            try await GitSource(allowLocalSources: true).clone(url: git.bare.path, commit: try await git.head(), into: out, sshPrivateKey: nil)
            #expect(try String(contentsOf: out.appendingPathComponent("a.txt"), encoding: .utf8) == "local\n")
        }
    }

    @Test func clonesOverSSHWithADeployKey() async throws {
        try await GitFixture.with { git in
            try await git.commit(["a.txt": "over ssh\n"])
            let (key, otherKey) = try await git.startSSHD()
            let pinned = GitHostKeyPolicy(endpoint: "127.0.0.1:\(git.sshPort)", keys: [try await git.hostKey()])
            let head = try await git.head()
            let out = git.scratch.sub("out")
            try await GitSource().clone(url: git.sshURL, commit: head, into: out, sshPrivateKey: key, sshHostKeys: pinned)
            #expect(try String(contentsOf: out.appendingPathComponent("a.txt"), encoding: .utf8) == "over ssh\n")

            do throws(GitSourceError) {
                try await GitSource().clone(url: git.sshURL, commit: head, into: git.scratch.sub("denied"), sshPrivateKey: otherKey, sshHostKeys: pinned)
                Issue.record("an unlisted key was accepted")
            } catch {
                #expect(error.code == .fetchFailed, "\(error.message)")
            }
            do throws(GitSourceError) {
                try await GitSource().clone(url: git.sshURL, commit: head, into: git.scratch.sub("nokey"), sshPrivateKey: nil, sshHostKeys: pinned)
                Issue.record("cloned over ssh without a key")
            } catch {
                #expect(error.code == .fetchFailed, "\(error.message)")
            }
        }
    }

    /// Issue #16 item 6: the clone checks the server's host key against the pinned ones; no
    /// path accepts whatever key a server presents.
    @Test func refusesAnSSHHostKeyThatIsNotPinned() async throws {
        try await GitFixture.with { git in
            try await git.commit(["a.txt": "pinned\n"])
            let (key, _) = try await git.startSSHD()
            let head = try await git.head()
            let old = try await git.hostKey()
            let pinned = GitHostKeyPolicy(endpoint: "127.0.0.1:\(git.sshPort)", keys: [old],
                                          acceptPath: "/api/v1/repository/a/b/trigger/u/hostkeys")

            // Without pinned keys (an older orchestrator) or with none recorded: refused.
            for policy in [nil, GitHostKeyPolicy(endpoint: "127.0.0.1:\(git.sshPort)", keys: [], missingReason: "connection refused")] {
                do throws(GitSourceError) {
                    try await GitSource().clone(url: git.sshURL, commit: head, into: git.scratch.sub("nopolicy-\(policy == nil)"),
                                                sshPrivateKey: key, sshHostKeys: policy)
                    Issue.record("cloned over ssh without a pinned host key")
                } catch {
                    #expect(error.code == .hostKeyRefused && error.message.contains(old.fingerprint), "\(error.message)")
                }
            }

            // The server's key changes: the clone stops and says which keys and what to do.
            try await git.replaceHostKey()
            let new = try await git.hostKey()
            do throws(GitSourceError) {
                try await GitSource().clone(url: git.sshURL, commit: head, into: git.scratch.sub("changed"), sshPrivateKey: key, sshHostKeys: pinned)
                Issue.record("cloned although the host key changed")
            } catch {
                #expect(error.code == .hostKeyRefused, "\(error.message)")
                #expect(error.message.contains("has changed") && error.message.contains(new.fingerprint) && error.message.contains(old.fingerprint),
                        "\(error.message)")
                #expect(error.message.contains(#"POST /api/v1/repository/a/b/trigger/u/hostkeys and the body {"fingerprint":"\#(new.fingerprint)"}"#),
                        "\(error.message)")
            }
            #expect(!FileManager.default.fileExists(atPath: git.scratch.sub("changed").path), "nothing half-cloned stays behind")
            let accepted = GitHostKeyPolicy(endpoint: "127.0.0.1:\(git.sshPort)", keys: [new])
            try await GitSource().clone(url: git.sshURL, commit: head, into: git.scratch.sub("accepted"), sshPrivateKey: key, sshHostKeys: accepted)
        }
    }
}
