import Foundation
import Logging
import ObjectStorage
import SlipwayCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A real S3 API on loopback for one test: `moto_server` (PyPI `moto[server]`) with signature
/// checking on. moto accepts any signature unless started with `INITIAL_NO_AUTH_ACTION_COUNT`;
/// the three unauthenticated calls it then allows create an IAM user, its access key and an
/// allow-everything policy, after which only that key's correct signatures are accepted.
/// Readiness is a TCP connect, not an HTTP request: a request would use up one of the three.
public final class MotoServer: @unchecked Sendable {
    public let endpoint: String
    public let bucket: String
    public let accessKey: String
    public let secretKey: String
    public let region = "us-east-1"
    private let process: Process

    /// `moto_server` on the PATH, or nil. In CI (`CI=true`) a missing moto_server is a failure,
    /// not a skip: `.ci/run` installs it (scripts/install-deps.sh --test).
    public static var executable: String? {
        let env = ProcessInfo.processInfo.environment
        for dir in (env["PATH"] ?? "").split(separator: ":") {
            let path = "\(dir)/moto_server"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        if env["CI"] == "true" { fatalError("CI=true but moto_server is not installed: scripts/install-deps.sh --test installs moto[server]") }
        return nil
    }

    /// The S3 runs join every suite when moto_server is installed (`SLIPWAY_TEST_S3=0` leaves
    /// them out for a quick local run).
    public static var available: Bool {
        guard ProcessInfo.processInfo.environment["SLIPWAY_TEST_S3"] != "0" else { return false }
        return executable != nil
    }

    /// Runs `body` with a fresh bucket of the test process's shared server: one moto_server per
    /// signature mode, started on first use and killed when the process exits (a server per
    /// test would start dozens of Python interpreters at once).
    ///
    /// `checkSignatures: false` is for the few tests of a key prefix: moto 5.2 verifies a
    /// signature against the *decoded* query string, so a listing whose `prefix=` holds a `/`
    /// (any non-empty `storage.s3.prefix`) fails its check for every client, boto3 included.
    /// Everything else runs with signature checking on and an empty prefix.
    public static func with<T>(checkSignatures: Bool = true, _ body: (MotoServer) async throws -> T) async throws -> T {
        let shared = try await (checkSignatures ? checkingServer : plainServer).server()
        let bucketName = "t-" + UUID().uuidString.lowercased().prefix(23)
        let server = MotoServer(endpoint: shared.endpoint, bucket: String(bucketName), accessKey: shared.accessKey,
                                secretKey: shared.secretKey, process: shared.process, shared: true)
        try await server.storage().client.createBucket()
        return try await body(server)
    }

    /// A server of its own for `body`, stopped afterwards (tests that stop S3 mid-test).
    public static func withPrivateServer<T>(_ body: (MotoServer) async throws -> T) async throws -> T {
        let server = try await start(bucket: "slipway-test")
        do {
            let result = try await body(server)
            server.stop()
            return result
        } catch {
            server.stop()
            throw error
        }
    }

    private static let checkingServer = SharedMotoServer(checkSignatures: true)
    private static let plainServer = SharedMotoServer(checkSignatures: false)

    public static func start(bucket: String = "slipway-test", checkSignatures: Bool = true) async throws -> MotoServer {
        guard let executable else { throw TestFailure("moto_server is not installed") }
        let port = try freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-H", "127.0.0.1", "-p", String(port)]
        var env = ProcessInfo.processInfo.environment
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = checkSignatures ? "3" : "1000000000"
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let endpoint = "http://127.0.0.1:\(port)"
        do {
            try await waitForListener(port: port, process: process)
            let (accessKey, secretKey) = try await provision(endpoint: endpoint, bucket: bucket)
            MotoProcesses.started(process.processIdentifier)
            return MotoServer(endpoint: endpoint, bucket: bucket, accessKey: accessKey, secretKey: secretKey, process: process, shared: false)
        } catch {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw error
        }
    }

    /// The test process's server, which `stop()` leaves running.
    private let shared: Bool

    private init(endpoint: String, bucket: String, accessKey: String, secretKey: String, process: Process, shared: Bool) {
        self.shared = shared
        self.endpoint = endpoint
        self.bucket = bucket
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.process = process
    }

    public var isRunning: Bool { process.isRunning }

    /// Stops the server (tests of an S3 outage call this mid-test).
    public func stop() {
        guard !shared, process.isRunning else { return }
        // SIGKILL: moto_server's threaded server does not exit on SIGTERM while it has open
        // connections, and waiting for it would hang the test. It holds nothing on disk.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// The IAM user, key and policy, then the bucket, made with boto3 (the script is shared with
    /// the cluster test).
    static let provisionScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/moto_provision.py").path

    private static func provision(endpoint: String, bucket: String) async throws -> (String, String) {
        // The python next to moto_server has boto3 (moto depends on it).
        let python = URL(fileURLWithPath: executable!).deletingLastPathComponent().appendingPathComponent("python3").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: FileManager.default.isExecutableFile(atPath: python) ? python : "/usr/bin/env")
        process.arguments = (process.executableURL!.path == python ? [] : ["python3"]) + [provisionScript, endpoint, bucket]
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let words = String(decoding: output, as: UTF8.self).split(whereSeparator: \.isWhitespace)
        guard process.terminationStatus == 0, words.count == 2 else {
            throw TestFailure("provisioning moto failed: \(String(decoding: errors, as: UTF8.self).suffix(2000))")
        }
        return (String(words[0]), String(words[1]))
    }

    private static func waitForListener(port: Int, process: Process) async throws {
        // Generous: on a loaded 2-core machine importing moto alone takes seconds.
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw TestFailure("moto_server exited with status \(process.terminationStatus)") }
            if canConnect(port: port) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("moto_server did not listen on port \(port) within 120 s")
    }

    private static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// A port nothing listens on right now (bound to 0 and released).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestFailure("bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw TestFailure("getsockname() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}


extension MotoServer {
    /// An S3 blob driver on this server's bucket. `partSize` is S3's minimum (5 MiB) unless
    /// given, so multipart paths run with small test blobs.
    public func storage(prefix: String = "", partSize: Int = 5 * 1024 * 1024, redirectDownloads: Bool = false,
                        secretKey: String? = nil, bucket: String? = nil) throws -> S3BlobStorage {
        let endpoint = S3Endpoint(url: self.endpoint, region: region, bucket: bucket ?? self.bucket, pathStyle: true)
        var client = try S3Client(endpoint: endpoint, credentials: S3Credentials(accessKey: accessKey, secretKey: secretKey ?? self.secretKey),
                                  logger: Logger(label: "slipway-test-s3"))
        client.initialBackoff = .milliseconds(20)
        return S3BlobStorage(client: client, prefix: prefix, partSize: partSize, redirectDownloads: redirectDownloads)
    }
}

extension MotoServer {
    /// Points `config` at this server's bucket (what `slipway serve` would read from YAML).
    public func configure(_ config: inout SlipwayConfig, prefix: String = "") {
        config.storage.driver = .s3
        config.storage.s3.endpoint = endpoint
        config.storage.s3.region = region
        config.storage.s3.bucket = bucket
        config.storage.s3.prefix = prefix
        config.storage.s3.accessKey = accessKey
        config.storage.s3.secretKey = secretKey
        config.storage.s3.pathStyle = true
    }
}

/// Starts one moto_server on first use and hands the same one to every later caller.
actor SharedMotoServer {
    let checkSignatures: Bool
    private var starting: Task<MotoServer, any Error>?

    init(checkSignatures: Bool) { self.checkSignatures = checkSignatures }

    func server() async throws -> MotoServer {
        if let starting, let server = try? await starting.value, server.isRunning { return server }
        let task = Task { [checkSignatures] in try await MotoServer.start(bucket: "slipway-bootstrap", checkSignatures: checkSignatures) }
        starting = task
        return try await task.value
    }
}

/// moto_server processes of this test process, killed when it exits: a shared server outlives
/// every test, and nothing else would stop it.
enum MotoProcesses {
    private static let pids = Mutex<[pid_t]>([])
    private static let registered = Mutex(false)

    static func started(_ pid: pid_t) {
        pids.withLock { $0.append(pid) }
        let first = registered.withLock { done in
            defer { done = true }
            return !done
        }
        if first {
            atexit {
                for pid in MotoProcesses.pids.withLock({ $0 }) { kill(pid, SIGKILL) }
            }
        }
    }
}

/// The blob drivers a storage test runs against: S3 joins when moto_server is installed (in
/// CI it must be).
public enum TestStorageKind: String, Sendable, CaseIterable, CustomStringConvertible {
    case filesystem, s3

    public var description: String { rawValue }

    public static var available: [TestStorageKind] { MotoServer.available ? [.filesystem, .s3] : [.filesystem] }

    /// Runs `body` with a fresh driver of this kind (for S3: its own moto_server, stopped after).
    public func withDriver<T>(_ body: (any BlobStorageDriver) async throws -> T) async throws -> T {
        switch self {
        case .filesystem:
            let dir = NSTemporaryDirectory() + "slipway-storage-" + UUID().uuidString.prefix(8)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            return try await body(try await FilesystemBlobStorage(root: dir))
        case .s3:
            return try await MotoServer.with { moto in try await body(try moto.storage()) }
        }
    }
}
