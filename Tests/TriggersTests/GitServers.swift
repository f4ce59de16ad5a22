// Real git servers on loopback for the trigger tests: a bare repository (branch `main`, branch
// `dev`, annotated tag `v1`) served by `git daemon` (git://), and optionally by a real sshd
// whose host key can be replaced, as a server's operator would. Seeded with the git CLI; the
// code under test never runs it.

import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

struct FixtureFailure: Error, CustomStringConvertible {
    let description: String
}

/// A child process in its own process group, spawned with posix_spawn and reaped with waitpid
/// on a thread of its own. (Foundation's Process does not notice exits reliably in this test
/// process, and `kill(-pid)` reaches what a server forks.)
struct Child: Sendable {
    let pid: pid_t

    /// Starts `arguments` (looked up in PATH) with stdout and stderr appended to `output`.
    static func spawn(_ arguments: [String], output: URL) throws -> Child {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The test process ignores SIGTERM and SIGINT (signal handling for graceful shutdown);
        // children must not inherit that, or `stop()` could not end them.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, environ)
        guard rc == 0 else { throw FixtureFailure(description: "cannot start \(arguments[0]): \(String(cString: strerror(rc)))") }
        return Child(pid: pid)
    }

    /// Waits for the exit (on a dedicated thread); the exit status.
    func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            let pid = self.pid
            Thread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                continuation.resume(returning: (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f))
            }.start()
        }
    }

    /// SIGTERM to the whole group, then the exit.
    func stop() async {
        kill(-pid, SIGTERM)
        _ = await wait()
    }
}

/// `bash -c` with its output collected.
enum Shell {
    @discardableResult
    static func run(_ script: String, in directory: URL? = nil) async throws -> String {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-shell-\(UUID().uuidString.prefix(8)).out")
        defer { try? FileManager.default.removeItem(at: output) }
        let cd = directory.map { "cd '\($0.path)' && " } ?? ""
        let status = await (try Child.spawn(["/bin/bash", "-c", cd + script], output: output)).wait()
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        guard status == 0 else { throw FixtureFailure(description: "`\(script.prefix(200))` failed (\(status)): \(text)") }
        return text
    }
}

/// A server process in the foreground; `stop()` ends its process group and awaits the exit.
final class Daemon: @unchecked Sendable {
    private let child: Child
    private var stopped = false

    init(_ arguments: [String], log: URL) throws {
        child = try Child.spawn(arguments, output: log)
    }

    func stop() async {
        guard !stopped else { return }
        stopped = true
        await child.stop()
    }
}

final class GitServers: @unchecked Sendable {
    let root: URL
    let daemonPort: Int
    private(set) var sshPort = 0
    private var daemon: Daemon?
    private var sshd: Daemon?

    var bare: URL { root.appendingPathComponent("srv/repo.git") }
    var tree: URL { root.appendingPathComponent("tree") }
    var sshDirectory: URL { root.appendingPathComponent("ssh") }
    var daemonURL: String { "git://127.0.0.1:\(daemonPort)/repo.git" }
    var sshURL: String { "ssh://root@127.0.0.1:\(sshPort)\(bare.path)" }

    private init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-trigger-git-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        daemonPort = Self.freePort()
    }

    /// The repository with commits on `main` and `dev` and an annotated tag `v1`, served over git://.
    static func start() async throws -> GitServers {
        let servers = try GitServers()
        try await Shell.run("""
            set -e
            G="git -c user.name=Dev -c user.email=dev@example.com"
            $G init -q --bare -b main srv/repo.git
            touch srv/repo.git/git-daemon-export-ok
            $G init -q -b main tree
            cd tree
            echo one > a.txt && $G add -A && $G commit -q -m first
            $G tag -a v1 -m 'release one'
            echo two > a.txt && $G commit -q -am second
            $G checkout -q -b dev && echo dev > a.txt && $G commit -q -am 'on dev' && $G checkout -q main
            $G push -q "$OLDPWD/srv/repo.git" main dev v1
            """, in: servers.root)
        let srv = servers.root.appendingPathComponent("srv").path
        servers.daemon = try Daemon(["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", "--port=\(servers.daemonPort)",
                                     "--base-path=\(srv)", "--export-all", srv], log: servers.root.appendingPathComponent("daemon.log"))
        try await waitUntilListening(servers.daemonPort, what: "git daemon")
        return servers
    }

    /// The commit a ref of the served repository names.
    func commit(_ ref: String) async throws -> String {
        try await Shell.run("git --git-dir='\(bare.path)' rev-parse '\(ref)^{commit}'").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Starts sshd (ed25519 and ECDSA host keys) letting `authorizedKey` in as root; returns the
    /// host keys' `ssh-keygen -l` fingerprints.
    @discardableResult
    func startSSHD(authorizedKey: String) async throws -> [String] {
        if sshPort == 0 { sshPort = Self.freePort() }
        let d = sshDirectory.path
        try await Shell.run("""
            set -e
            mkdir -p '\(d)' /run/sshd
            cd '\(d)'
            [ -f hostkey_ed25519 ] || ssh-keygen -q -t ed25519 -N '' -f hostkey_ed25519
            [ -f hostkey_ecdsa ] || ssh-keygen -q -t ecdsa -b 256 -N '' -f hostkey_ecdsa
            cat > sshd_config <<EOF
            ListenAddress 127.0.0.1
            Port \(sshPort)
            HostKey \(d)/hostkey_ed25519
            HostKey \(d)/hostkey_ecdsa
            PidFile \(d)/sshd.pid
            AuthorizedKeysFile \(d)/authorized_keys
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
        try (authorizedKey + "\n").write(to: sshDirectory.appendingPathComponent("authorized_keys"), atomically: true, encoding: .utf8)
        sshd = try Daemon(["/usr/sbin/sshd", "-D", "-e", "-f", sshDirectory.appendingPathComponent("sshd_config").path],
                          log: root.appendingPathComponent("sshd.log"))
        try await Self.waitUntilListening(sshPort, what: "sshd")
        return try await hostKeyFingerprints()
    }

    /// The port sshd will listen on (before `startSSHD`).
    func useSSHPort(_ port: Int) { sshPort = port }

    /// Lets `key` (an OpenSSH public key line) log in; sshd reads the file at every login.
    func authorize(_ key: String) throws {
        try (key + "\n").write(to: sshDirectory.appendingPathComponent("authorized_keys"), atomically: true, encoding: .utf8)
    }

    /// `SHA256:...` of the ed25519 and ECDSA host keys.
    func hostKeyFingerprints() async throws -> [String] {
        let d = sshDirectory.path
        return try await Shell.run("ssh-keygen -l -E sha256 -f '\(d)/hostkey_ed25519.pub'; ssh-keygen -l -E sha256 -f '\(d)/hostkey_ecdsa.pub'")
            .split(separator: "\n").compactMap { $0.split(separator: " ").dropFirst().first.map(String.init) }
    }

    /// `known_hosts` lines for the current host keys, as `ssh-keyscan` prints them.
    func knownHosts() async throws -> String {
        let d = sshDirectory.path
        return try await Shell.run("""
            for f in '\(d)'/hostkey_ed25519.pub '\(d)'/hostkey_ecdsa.pub; do echo "[127.0.0.1]:\(sshPort) $(cut -d' ' -f1,2 "$f")"; done
            """)
    }

    /// New host keys for the same server (an operator rebuilt it): sshd restarts on the same port.
    func replaceHostKeys() async throws -> [String] {
        await sshd?.stop()
        try await Shell.run("rm -f '\(sshDirectory.path)'/hostkey_*")
        let authorized = try String(contentsOf: sshDirectory.appendingPathComponent("authorized_keys"), encoding: .utf8)
        return try await startSSHD(authorizedKey: authorized.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func stopSSHD() async {
        await sshd?.stop()
        sshd = nil
    }

    func stop() async {
        await sshd?.stop()
        await daemon?.stop()
        try? FileManager.default.removeItem(at: root)
    }

    static func with(_ body: (GitServers) async throws -> Void) async throws {
        let servers = try await start()
        do {
            try await body(servers)
        } catch {
            await servers.stop()
            throw error
        }
        await servers.stop()
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func waitUntilListening(_ port: Int, what: String) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let rc = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if rc == 0 { return }
            guard ContinuousClock.now < deadline else { throw FixtureFailure(description: "\(what) did not listen on \(port)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
