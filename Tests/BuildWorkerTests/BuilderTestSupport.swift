// Real servers and images for the builder tests: a throwaway `docker-registry` per test on a free
// loopback port, the busybox base image (built once per test process, offline, from
// /bin/busybox as in Tests/Fixtures/busybox-base) copied into it, a static file server for
// uploads, git servers, and small shell helpers.

import BuildProtocol
import BuildWorker
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Shell helpers run through the worker's own `BuilderProcess` (their own process group, reaped
/// with waitpid, never blocking the cooperative pool), not Foundation.Process.
enum TestShell {
    /// Runs `script` with bash; returns stdout+stderr; throws on a non-zero exit.
    @discardableResult
    static func run(_ script: String, in directory: URL? = nil) async throws -> String {
        let invocation = BuilderInvocation(executable: "/bin/bash", arguments: ["-c", script],
                                           environment: ProcessInfo.processInfo.environment,
                                           workingDirectory: directory?.path ?? "/tmp", timeout: .seconds(120), killGrace: .seconds(1))
        let lines = LineCollector()
        let result = try await BuilderProcess.run(invocation) { lines.append($0) }
        let text = lines.all.joined(separator: "\n")
        guard result.succeeded else {
            throw TestFailure("`\(script.prefix(200))` failed (\(result.status)): \(text)")
        }
        return text
    }
}

enum Ports {
    /// A port that was free a moment ago (bound to 0, read back, closed).
    static func free() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    static func waitUntilListening(_ port: Int, what: String) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while !accepts(port) {
            guard ContinuousClock.now < deadline else { throw TestFailure("\(what) did not listen on \(port)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// A scratch directory removed on deinit.
final class Scratch: @unchecked Sendable {
    let url: URL
    init(_ label: String = "builder") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    var path: String { url.path }
    func sub(_ name: String) -> URL { url.appendingPathComponent(name) }
}

/// A long-running helper process (registry, file server, git daemon, sshd) run in the
/// foreground through `BuilderProcess`; `stop()` cancels it, which kills its whole group.
final class ServerProcess: @unchecked Sendable {
    let output = LineCollector()
    private let task: Task<Void, Never>

    init(_ arguments: [String], directory: String = "/tmp") {
        let invocation = BuilderInvocation(executable: "/usr/bin/env", arguments: arguments,
                                           environment: ProcessInfo.processInfo.environment,
                                           workingDirectory: directory, killGrace: .seconds(1))
        let output = self.output
        task = Task { _ = try? await BuilderProcess.run(invocation) { output.append($0) } }
    }

    /// Kills the server's process group and waits until it is gone.
    func stop() async {
        task.cancel()
        await task.value
    }

    deinit { task.cancel() }
}

/// `docker-registry` (distribution 2.x) without auth on a free loopback port.
final class LocalRegistry: @unchecked Sendable {
    let scratch: Scratch
    let port: Int
    let server: ServerProcess
    var address: String { "127.0.0.1:\(port)" }

    static func start() async throws -> LocalRegistry {
        let scratch = try Scratch("registry")
        let port = Ports.free()
        let config = """
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: \(scratch.path)/data
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:\(port)

            """
        try config.write(to: scratch.sub("config.yml"), atomically: true, encoding: .utf8)
        let server = ServerProcess(["docker-registry", "serve", scratch.sub("config.yml").path])
        let registry = LocalRegistry(scratch: scratch, port: port, server: server)
        try await Ports.waitUntilListening(port, what: "docker-registry")
        return registry
    }

    private init(scratch: Scratch, port: Int, server: ServerProcess) {
        self.scratch = scratch
        self.port = port
        self.server = server
    }

    func stop() async { await server.stop() }

    /// Copies the busybox base image into this registry as `library/busybox:latest`.
    func seedBusybox() async throws {
        let oci = try await BusyboxBase.shared.ociLayout()
        try await TestShell.run("skopeo copy --dest-tls-verify=false oci:\(oci.path):latest docker://\(address)/library/busybox:latest")
    }

    /// `skopeo inspect` of a pushed image: (digest, labels).
    func inspect(_ reference: String) async throws -> (digest: String, labels: [String: String]) {
        let json = try await TestShell.run("skopeo inspect --tls-verify=false docker://\(address)/\(reference)")
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] ?? [:]
        return (object["Digest"] as? String ?? "", object["Labels"] as? [String: String] ?? [:])
    }
}

/// The offline busybox base image, built once per test process with the worker's own
/// `BuilderProcess` into an OCI layout that each test's registry is seeded from.
actor BusyboxBase {
    static let shared = BusyboxBase()
    private var layout: Task<URL, any Error>?

    func ociLayout() async throws -> URL {
        if let layout { return try await layout.value }
        let task = Task { try await Self.build() }
        layout = task
        return try await task.value
    }

    static var fixtures: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    }

    /// Removed when the test process exits.
    private static let root = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-busybox-\(getpid())")

    private static func build() async throws -> URL {
        let root = Self.root
        try? FileManager.default.removeItem(at: root)
        atexit { try? FileManager.default.removeItem(at: BusyboxBase.root) }
        let context = root.appendingPathComponent("context")
        try FileManager.default.createDirectory(at: context, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: context.appendingPathComponent("busybox").path)
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("busybox-base/Dockerfile"),
                                         to: context.appendingPathComponent("Dockerfile"))
        let environment = try ContainerEnvironment(root: root.appendingPathComponent("ct"))
        defer { environment.remove() }
        let build = BuilderInvocation.build(contextDirectory: context.path, dockerfile: context.appendingPathComponent("Dockerfile").path,
                                            tags: ["localhost/busybox:latest"], pullAlways: false, tlsVerify: false,
                                            environment: environment)
        let lines = LineCollector()
        let result = try await BuilderProcess.run(build) { lines.append($0) }
        guard result.succeeded else { throw TestFailure("busybox base build failed: \(lines.all.joined(separator: "\n"))") }
        let layout = root.appendingPathComponent("oci")
        let push = BuilderInvocation(executable: "buildah", arguments: ["push", "localhost/busybox:latest", "oci:\(layout.path):latest"],
                                     environment: environment.variables, workingDirectory: root.path)
        let pushed = try await BuilderProcess.run(push) { lines.append($0) }
        guard pushed.succeeded else { throw TestFailure("busybox base push failed: \(lines.all.joined(separator: "\n"))") }
        return layout
    }
}

/// Collects lines or events from a callback thread.
final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
    func contains(_ text: String) -> Bool { all.contains { $0.contains(text) } }
}

final class EventCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [BuildEvent] = []
    func append(_ event: BuildEvent) { lock.withLock { stored.append(event) } }
    var events: [BuildEvent] { lock.withLock { stored } }
    var phases: [String] {
        events.compactMap { if case .phase(let update) = $0 { return update.phase.rawValue } else { return nil } }
    }
    var entries: [BuildLogEntry] {
        events.compactMap { if case .log(let entry) = $0 { return entry } else { return nil } }
    }
    func sawLine(containing text: String) -> Bool { entries.contains { $0.message.contains(text) } }
}

/// Waits for `condition` with a deadline (tests await events, they do not sleep blindly).
func waitFor(_ what: String, timeout: Duration = .seconds(30), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(25))
    }
}

/// Processes (pid, pgid, cmdline) from /proc.
func processTable() -> [(pid: Int32, pgid: Int32, cmdline: String)] {
    var rows: [(Int32, Int32, String)] = []
    for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = Int32(name),
              let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        // Fields after "comm)": state ppid pgrp ...
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, let pgid = Int32(fields[2]) else { continue }
        let raw = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(name)/cmdline"))) ?? Data()
        let cmdline = String(decoding: raw.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
        rows.append((pid, pgid, cmdline))
    }
    return rows
}

/// `kill(-pgid, 0)` fails with ESRCH once init has reaped the group's orphaned zombies (init
/// reaps lazily in this sandbox; live members are checked separately and must be gone at once).
func waitUntilGroupIsReaped(_ pgid: Int32) async throws {
    try await waitFor("process group \(pgid) to be reaped", timeout: .seconds(20)) {
        kill(-pgid, 0) == -1 && errno == ESRCH
    }
}
