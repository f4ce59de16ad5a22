// A bare repository served by `git daemon` (git://) on a free loopback port, seeded from a work
// tree with the git CLI (the code under test never uses the CLI), and optionally an sshd.

import BuildProtocol
import Foundation

#if canImport(Glibc)
import Glibc
#endif

final class GitFixture: @unchecked Sendable {
    let scratch: Scratch
    private(set) var port: Int
    private var daemon: ServerProcess?
    private var sshd: ServerProcess?
    private(set) var sshPort = 0

    var bare: URL { scratch.sub("srv/repo.git") }
    var tree: URL { scratch.sub("tree") }
    var daemonURL: String { "git://127.0.0.1:\(port)/repo.git" }
    var sshURL: String { "ssh://root@127.0.0.1:\(sshPort)\(bare.path)" }

    static func start() async throws -> GitFixture {
        let fixture = try GitFixture()
        try await TestShell.run("""
            set -e
            git init -q --bare -b main srv/repo.git
            touch srv/repo.git/git-daemon-export-ok
            git init -q -b main tree
            git -C tree remote add origin "$PWD/srv/repo.git"
            """, in: fixture.scratch.url)
        let srv = fixture.scratch.sub("srv").path
        // A free port can be taken by a server another test starts at the same moment: retry
        // on a fresh port rather than fail.
        for attempt in 1...3 {
            if attempt > 1 { fixture.port = Ports.free() }
            fixture.daemon = ServerProcess(["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", "--port=\(fixture.port)",
                                            "--base-path=\(srv)", "--export-all", srv])
            do {
                try await Ports.waitUntilListening(fixture.port, what: "git daemon")
                return fixture
            } catch {
                await fixture.daemon?.stop()
                if attempt == 3 { throw error }
            }
        }
        return fixture
    }

    private init() throws {
        scratch = try Scratch("git")
        port = Ports.free()
    }

    /// Writes `files`, commits everything and pushes to the bare repository.
    func commit(_ files: [String: String], message: String = "change") async throws {
        for (path, content) in files {
            let url = tree.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try content.write(to: url, atomically: true, encoding: .utf8)
        }
        try await TestShell.run("""
            set -e
            git add -A
            git -c user.name=Dev -c user.email=dev@example.com commit -q -m '\(message)'
            git push -q origin HEAD:main
            """, in: tree)
    }

    func head() async throws -> String {
        try await TestShell.run("git rev-parse HEAD", in: tree).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Starts sshd on a free port with an ed25519 host key; returns (authorized private key PEM,
    /// unauthorized private key PEM).
    func startSSHD() async throws -> (authorized: String, unauthorized: String) {
        let directory = scratch.sub("ssh")
        sshPort = Ports.free()
        try await TestShell.run("""
            set -e
            mkdir -p "\(directory.path)" /run/sshd
            cd "\(directory.path)"
            ssh-keygen -q -t ed25519 -N '' -f hostkey_ed25519
            ssh-keygen -q -t ed25519 -N '' -f id_ed25519
            ssh-keygen -q -t ed25519 -N '' -f id_other
            cp id_ed25519.pub authorized_keys
            cat > sshd_config <<EOF
            ListenAddress 127.0.0.1
            Port \(sshPort)
            HostKey \(directory.path)/hostkey_ed25519
            PidFile \(directory.path)/sshd.pid
            AuthorizedKeysFile \(directory.path)/authorized_keys
            StrictModes no
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            PermitRootLogin prohibit-password
            AllowUsers root
            LogLevel VERBOSE
            EOF
            /usr/sbin/sshd -t -f sshd_config
            """)
        sshd = ServerProcess(["/usr/sbin/sshd", "-D", "-e", "-f", directory.appendingPathComponent("sshd_config").path])
        try await Ports.waitUntilListening(sshPort, what: "sshd")
        return (try String(contentsOf: directory.appendingPathComponent("id_ed25519"), encoding: .utf8),
                try String(contentsOf: directory.appendingPathComponent("id_other"), encoding: .utf8))
    }

    /// The sshd's host key as a trigger pins it (type, base64 blob, `ssh-keygen -l` fingerprint).
    func hostKey() async throws -> SSHHostKey {
        let pub = scratch.sub("ssh").appendingPathComponent("hostkey_ed25519.pub").path
        let fields = try String(contentsOfFile: pub, encoding: .utf8).split(separator: " ").map(String.init)
        let fingerprint = try await TestShell.run("ssh-keygen -l -E sha256 -f '\(pub)'").split(separator: " ")[1]
        return SSHHostKey(type: fields[0], key: fields[1], fingerprint: String(fingerprint))
    }

    /// A new host key for the same sshd (restarted on the same port), as after a server rebuild.
    func replaceHostKey() async throws {
        await sshd?.stop()
        let directory = scratch.sub("ssh").path
        try await TestShell.run("cd '\(directory)' && rm -f hostkey_ed25519 hostkey_ed25519.pub && ssh-keygen -q -t ed25519 -N '' -f hostkey_ed25519")
        sshd = ServerProcess(["/usr/sbin/sshd", "-D", "-e", "-f", scratch.sub("ssh").appendingPathComponent("sshd_config").path])
        try await Ports.waitUntilListening(sshPort, what: "sshd")
    }

    func stop() async {
        await sshd?.stop()
        await daemon?.stop()
    }

    /// Runs `body` with a started fixture and always stops its servers.
    static func with(_ body: (GitFixture) async throws -> Void) async throws {
        let fixture = try await start()
        do {
            try await body(fixture)
        } catch {
            await fixture.stop()
            throw error
        }
        await fixture.stop()
    }
}
