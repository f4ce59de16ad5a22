import Accounts
import BuildOrchestrator
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Notifications
import Registry
import ScanService
import SlipwayCore
import SlipwayServer
import Triggers
import WebUI

/// The metadata backends a test runs against. PostgreSQL joins when
/// `SLIPWAY_TEST_POSTGRES_URL` names a server (`.ci/run` starts one); in CI it is required.
public enum TestBackend: String, Sendable, CaseIterable, CustomStringConvertible {
    case sqlite, postgres

    public var description: String { rawValue }

    public static var available: [TestBackend] {
        postgresURL == nil ? [.sqlite] : [.sqlite, .postgres]
    }

    /// Creates an empty PostgreSQL database on the test server; returns its URL and a closure
    /// that drops it.
    public static func createPostgresDatabase() async throws -> (url: String, drop: @Sendable () async -> Void) {
        guard let base = postgresURL else { throw TestFailure("SLIPWAY_TEST_POSTGRES_URL is not set") }
        let logger = TestRegistry.logger
        let name = "slipway_t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        try await PostgresBackend.with(url: base, logger: logger) { admin in
            try await admin.read { db in try await db.raw("CREATE DATABASE \(unsafeRaw: name)").run() }
        }
        var components = URLComponents(string: base)!
        components.path = "/" + name
        let drop: @Sendable () async -> Void = {
            _ = try? await PostgresBackend.with(url: base, logger: logger) { admin in
                try await admin.read { db in try await db.raw("DROP DATABASE IF EXISTS \(unsafeRaw: name) WITH (FORCE)").run() }
            }
        }
        return (components.string!, drop)
    }

    /// What the server still has connected to the database of `url`, one line per backend
    /// (state, wait event, last statement), so a store that does not close can be explained.
    public static func connectionsReport(url: String) async -> String {
        guard let base = postgresURL, let name = URLComponents(string: url)?.path.dropFirst(), !name.isEmpty else { return "" }
        let rows = try? await TestDeadline.race(.seconds(20), "reading pg_stat_activity") {
            try await PostgresBackend.with(url: base, logger: TestRegistry.logger) { admin in
                try await admin.read { db in
                    try await db.raw("""
                        SELECT coalesce(state, '') || ' ' || coalesce(wait_event_type || ':' || wait_event, '') || ' ' \
                        || coalesce(extract(epoch FROM now() - state_change)::int::text, '?') || 's: ' || left(query, 120) AS line
                        FROM pg_stat_activity WHERE datname = \(bind: String(name)) AND pid <> pg_backend_pid()
                        """).all().map { try $0.decode(column: "line", as: String.self) }
                }
            }
        }
        guard let rows else { return "; pg_stat_activity could not be read" }
        return rows.isEmpty ? "; the server has no connection to \(name)"
            : "; the server still has \(rows.count) connection(s) to \(name): " + rows.joined(separator: " | ")
    }

    public static var postgresURL: String? {
        let env = ProcessInfo.processInfo.environment
        if let url = env["SLIPWAY_TEST_POSTGRES_URL"], !url.isEmpty { return url }
        if env["CI"] == "true" { fatalError("CI=true but SLIPWAY_TEST_POSTGRES_URL is not set: .ci/run must start PostgreSQL") }
        return nil
    }
}

/// A fresh registry (own data directory, own database) for one test.
public final class TestRegistry: Sendable {
    public let services: RegistryServices
    /// The test's own database (migrated), for checks that read rows directly.
    public let database: any Database
    /// The build farm module installed in every test application.
    public let buildFarm: BuildFarmModule
    public let triggers: TriggersModule
    public let notifications: NotificationsModule
    public let webUI: WebUIModule
    /// The scan pipeline (its runners are driven by the tests that need them).
    public let scans: ScanServiceModule
    /// The job queues' clock: tests pin it to move retries forward.
    public let jobTime: TestJobTime
    /// Every module, as `slipway serve` installs them.
    public var modules: [any SlipwayModule] { [buildFarm, triggers, notifications, webUI, scans] }
    public let directory: String
    /// The test's own PostgreSQL database, or nil on SQLite.
    public let postgresURL: String?
    private let poolEvents: LogRecorder
    private let closeStore: @Sendable () async -> Void
    /// Drops the test's PostgreSQL database and deletes its data directory.
    private let removeData: @Sendable () async -> Void

    public static let adminName = "admin"
    public static let password = "password123"

    /// The logger of test registries: quiet unless `SLIPWAY_TEST_LOG` names a level.
    public static var logger: Logger {
        var logger = Logger(label: "slipway-test")
        logger.logLevel = ProcessInfo.processInfo.environment["SLIPWAY_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }

    /// The configuration of a test registry over `dataDir`.
    public static func configuration(dataDir: String) -> SlipwayConfig {
        var config = SlipwayConfig()
        config.dataDir = dataDir
        config.auth.bcryptCost = 4
        // Tests run collector passes themselves, deterministically.
        config.gc.intervalSeconds = 0
        // A mail or webhook attempt against a live loopback peer can take seconds on a loaded
        // 2-core CI machine; the default 10 s made such attempts time out and tests that expect
        // delivery fail. Tests about timeouts set their own limit.
        config.notifications.deliveryTimeoutSeconds = 60
        // Dozens of tests run at once against one PostgreSQL server: 16 connections each went past
        // its max_connections (1,000 then; 2,500 now, scripts/start-postgres.sh, since the scan
        // and feed modules' tests joined: "sorry, too many clients already"), and a pool that cannot
        // connect for a minute fails its requests. Six leave four beside the two LISTENs.
        config.database.postgresMaxConnections = 6
        // Scans run when a test drives them (`scans.scanRunner().runOnce()`), so tests that
        // push images do not race a background scanner for the database.
        config.security.scanConcurrency = 0
        // Re-matches too (`scans.checkForDataChange()`, `scans.rematchRunner().runOnce()`).
        config.security.rematchCheckSeconds = 0
        // Scripted test workers lease and then call the worker endpoints without the immediate
        // heartbeat a real worker sends; on a loaded CI machine that gap passed the 15 s accept
        // window. Tests of the window itself (scheduler unit tests, e2e) use the default.
        config.builds.leaseAcceptSeconds = 3600
        return config
    }

    public static func start(_ backend: TestBackend, configure: (inout SlipwayConfig) -> Void = { _ in }) async throws -> TestRegistry {
        let dir = NSTemporaryDirectory() + "slipway-test-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var config = configuration(dataDir: dir)
        var dropDatabase: (@Sendable () async -> Void)?
        if backend == .postgres {
            let (url, drop) = try await TestBackend.createPostgresDatabase()
            config.database.driver = .postgres
            config.database.postgresURL = url
            dropDatabase = drop
        }
        configure(&config)
        let drop = dropDatabase
        return try await open(config: config) {
            await drop?()
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    /// A registry over the data directory and database `config` names, which may hold data
    /// already (upgrade tests); the schema is brought up to date. `cleanup` runs in `stop()`,
    /// after the database is closed.
    public static func open(config: SlipwayConfig, cleanup: @escaping @Sendable () async -> Void = {}) async throws -> TestRegistry {
        let logger = Self.logger
        // The pool's own events (connections made, leased, closed), kept to explain a store
        // that does not close.
        let poolEvents = LogRecorder()
        let database: any Database
        do {
            database = try await TestDatabases.openMigrated(config: config, logger: logger,
                                                            poolLogger: poolEvents.logger(label: "slipway-test-pool"))
        } catch {
            await cleanup()
            throw error
        }
        do {
            let jobTime = TestJobTime()
            let built = try await SlipwayApplication.makeServices(
                config: config, database: database, environment: ["SLIPWAY_ADMIN_USER": adminName, "SLIPWAY_ADMIN_PASSWORD": password],
                jobClock: jobTime.clock, logger: logger)
            return TestRegistry(services: built.services, database: database, directory: config.dataDir, jobTime: jobTime,
                                postgresURL: config.database.driver == .postgres ? config.database.postgresURL : nil, poolEvents: poolEvents,
                                closeStore: { await database.shutdown() }, removeData: cleanup)
        } catch {
            await database.shutdown()
            await cleanup()
            throw error
        }
    }

    private init(services: RegistryServices, database: any Database, directory: String, jobTime: TestJobTime, postgresURL: String?,
                 poolEvents: LogRecorder,
                 closeStore: @escaping @Sendable () async -> Void, removeData: @escaping @Sendable () async -> Void) {
        self.services = services
        self.database = database
        self.jobTime = jobTime
        self.buildFarm = BuildFarmModule(services: services, sources: TriggersModule.buildSources(services: services))
        self.triggers = TriggersModule(services: services, buildFarm: buildFarm)
        self.notifications = NotificationsModule(services: services)
        self.scans = ScanServiceModule(services: services)
        self.webUI = WebUIModule(services: services, buildFarm: buildFarm, triggers: triggers, scans: scans,
                                 identityNotices: notifications.identityNotices())
        self.directory = directory
        self.postgresURL = postgresURL
        self.poolEvents = poolEvents
        self.closeStore = closeStore
        self.removeData = removeData
    }

    public func stop() async {
        await closeStore()
        await removeData()
    }

    /// Runs `body` against the application in-process (`testing: .live`: through a real server
    /// on a loopback port), then tears everything down.
    public static func with<T: Sendable>(_ backend: TestBackend, storage: TestStorageKind = .filesystem, testing: TestingSetup = .router,
                                         configure: (inout SlipwayConfig) -> Void = { _ in },
                                         _ body: @escaping @Sendable (TestRegistry, RegistryClient) async throws -> T) async throws -> T {
        guard storage == .s3 else { return try await serve(try await start(backend, configure: configure), testing: testing, body) }
        // Blobs in a bucket of the test's own moto_server, stopped after the registry.
        return try await MotoServer.with { moto in
            try await serve(try await start(backend, configure: { moto.configure(&$0); configure(&$0) }), testing: testing, body)
        }
    }

    /// Runs `body` against the application of `registry` in-process (or live), then stops the registry.
    public static func serve<T: Sendable>(_ registry: TestRegistry, testing: TestingSetup = .router,
                                          _ body: @escaping @Sendable (TestRegistry, RegistryClient) async throws -> T) async throws -> T {
        do {
            let app = SlipwayApplication.application(services: registry.services, modules: registry.modules)
            // The body may take as long as it needs; once it has returned, the application's
            // services must stop within `stopDeadline` (a service that misses its shutdown would
            // otherwise hold the whole run).
            let bodyReturned = TestDeadline.Signal()
            defer { bodyReturned.fire() }  // also when the application never ran the body
            let result = try await TestDeadline.race("the application's services stopping after the test body returned",
                                                     timer: { await bodyReturned.wait(); try? await Task.sleep(for: stopDeadline) }) {
                try await app.test(testing) { client in
                    defer { bodyReturned.fire() }
                    return try await body(registry, RegistryClient(client: client))
                }
            }
            try await registry.stopWithinDeadline()
            return result
        } catch {
            try? await registry.stopWithinDeadline()
            throw error
        }
    }

    /// How long the application's services and the metadata store get to stop after a test.
    public static let stopDeadline: Duration = .seconds(90)

    /// Closing the store is Slipway's code: a hang there fails the test. Dropping the test's
    /// database is the test's housekeeping (PostgreSQL may wait on a busy server): it gets its
    /// own deadline, and if it misses it the test goes on and the server finishes the drop.
    public func stopWithinDeadline() async throws {
        let closeStore = self.closeStore, removeData = self.removeData
        do {
            try await TestDeadline.race(Self.stopDeadline, "closing the test registry's metadata store") { await closeStore() }
        } catch {
            guard let postgresURL else { throw error }
            let held = (database as? PostgresBackend)?.connectionHolders ?? []
            throw TestFailure("\(error); pooled connections still held: \(held)\(await TestBackend.connectionsReport(url: postgresURL)); "
                              + "the pool's last events: " + poolEvents.recent.joined(separator: " | "))
        }
        // Failed connection attempts explain a test that met a tripped pool (PostgresNIO fails
        // requests once connecting has failed for a minute); print their errors.
        let failures = poolEvents.notableEvents.filter { $0.contains("Connection creation failed") }
        if !failures.isEmpty {
            FileHandle.standardError.write(Data("note: the connection pool of \(directory) failed to connect: \(failures.joined(separator: " | "))\n".utf8))
        }
        // A pool left behind after its grace is not a failure of the test, but worth seeing.
        let events = poolEvents.recent
        if events.contains(where: { $0.contains("did not finish stopping") }) {
            FileHandle.standardError.write(Data("note: the connection pool of \(directory) did not stop in time; its last events: \(events.joined(separator: " | "))\n".utf8))
        }
        do {
            try await TestDeadline.race(Self.stopDeadline, "removing the test registry's data") { await removeData() }
        } catch {
            FileHandle.standardError.write(Data("note: \(error) (\(directory)); continuing\n".utf8))
        }
    }

    /// A collector over every pass the server runs (the background collector's and `slipway
    /// admin gc`'s), with `settings`.
    public func collector(_ settings: CollectorSettings = CollectorSettings()) -> Collector {
        SlipwayApplication.collector(services: services, modules: modules, settings: settings)
    }

    @discardableResult
    public func createUser(_ name: String, password: String = TestRegistry.password) async throws -> Namespace {
        try await services.accounts.createUser(name: name, passwordHash: try await services.hasher.hash(password), email: nil)
    }
}

/// A thin registry client over HummingbirdTesting's client: token flow plus request helpers.
public struct RegistryClient: Sendable {
    public let client: any TestClientProtocol

    public init(client: any TestClientProtocol) {
        self.client = client
    }

    public struct Credentials: Sendable {
        public let user: String
        public let password: String
        public init(_ user: String, _ password: String = TestRegistry.password) {
            self.user = user
            self.password = password
        }
    }

    /// Fetches a token for `scopes` (nil credentials = anonymous). Returns nil when refused.
    public func token(_ credentials: Credentials?, scopes: [String]) async throws -> String? {
        var query = "service=localhost"
        for s in scopes { query += "&scope=" + s.addingPercentEncoding(withAllowedCharacters: .alphanumerics)! }
        var headers = HTTPFields()
        if let credentials {
            headers[.authorization] = "Basic " + Data("\(credentials.user):\(credentials.password)".utf8).base64EncodedString()
        }
        let response = try await client.executeRequest(uri: "/v2/auth?\(query)", method: .get, headers: headers, body: nil)
        guard response.status == .ok else { return nil }
        let json = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
        return json?["token"] as? String
    }

    public func send(_ method: HTTPRequest.Method, _ uri: String, token: String? = nil, headers: HTTPFields = [:],
                     body: ByteBuffer? = nil) async throws -> TestResponse {
        var headers = headers
        if let token { headers[.authorization] = "Bearer \(token)" }
        let client = self.client
        let sent = headers
        let path = Self.path(of: uri)
        return try await TestDeadline.race(Self.requestDeadline, "\(method) \(uri)") {
            try await client.executeRequest(uri: path, method: method, headers: sent, body: body)
        }
    }

    /// The path and query of `uri`: `/v2` `Location` headers are absolute URLs (as Quay sends
    /// them), and tests follow them through the router, which takes paths.
    public static func path(of uri: String) -> String {
        guard let scheme = uri.range(of: "://"), uri.hasPrefix("http") else { return uri }
        let rest = uri[scheme.upperBound...]
        return rest.firstIndex(of: "/").map { String(rest[$0...]) } ?? "/"
    }

    /// A request that never answers fails its test, naming the route, instead of holding the
    /// whole run until CI's global timeout. Far above any request's real duration.
    public static let requestDeadline: Duration = .seconds(180)

    /// Pushes a blob monolithically and returns its digest.
    @discardableResult
    public func pushBlob(_ repo: String, _ bytes: [UInt8], token: String) async throws -> Digest {
        let digest = Digest.sha256(of: bytes)
        let response = try await send(.post, "/v2/\(repo)/blobs/uploads/?digest=\(digest)", token: token, body: ByteBuffer(bytes: bytes))
        guard response.status == .created else {
            throw TestFailure("blob push failed: \(response.status) \(String(buffer: response.body))")
        }
        return digest
    }

    /// Pushes a config + one layer + an OCI image manifest; returns the manifest digest and bytes.
    @discardableResult
    public func pushImage(_ repo: String, tag: String, token: String, layer: [UInt8] = Array("layer-\(UUID())".utf8),
                          subject: (Digest, Int)? = nil, artifactType: String? = nil) async throws -> (Digest, [UInt8]) {
        let config = Array("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}".utf8)
        let configDigest = try await pushBlob(repo, config, token: token)
        let layerDigest = try await pushBlob(repo, layer, token: token)
        let manifest = TestManifests.image(config: (configDigest, config.count), layers: [(layerDigest, layer.count)],
                                           subject: subject, artifactType: artifactType)
        let response = try await send(.put, "/v2/\(repo)/manifests/\(tag)", token: token,
                                      headers: [.contentType: MediaTypes.ociManifest], body: ByteBuffer(bytes: manifest))
        guard response.status == .created else {
            throw TestFailure("manifest push failed: \(response.status) \(String(buffer: response.body))")
        }
        return (Digest.sha256(of: manifest), manifest)
    }
}

public enum TestManifests {
    public static func image(config: (Digest, Int), layers: [(Digest, Int)], subject: (Digest, Int)? = nil, artifactType: String? = nil) -> [UInt8] {
        var doc: [String: Any] = [
            "schemaVersion": 2,
            "mediaType": MediaTypes.ociManifest,
            "config": ["mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0.description, "size": config.1],
            "layers": layers.map { ["mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": $0.0.description, "size": $0.1] },
        ]
        if let subject { doc["subject"] = ["mediaType": MediaTypes.ociManifest, "digest": subject.0.description, "size": subject.1] }
        if let artifactType { doc["artifactType"] = artifactType }
        return Array(try! JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys]))
    }

    public static func index(_ children: [(Digest, Int)], mediaType: String = MediaTypes.ociIndex, childType: String = MediaTypes.ociManifest) -> [UInt8] {
        let doc: [String: Any] = [
            "schemaVersion": 2,
            "mediaType": mediaType,
            "manifests": children.enumerated().map { i, c in
                ["mediaType": childType, "digest": c.0.description, "size": c.1,
                 "platform": ["architecture": i == 0 ? "amd64" : "arm64", "os": "linux"]] as [String: Any]
            },
        ]
        return Array(try! JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys]))
    }
}

/// Awaits `body` for at most `limit`. On timeout the work is cancelled and left behind (it may
/// ignore cancellation: that is the hang being reported) and the caller gets a `TestFailure`.
public enum TestDeadline {
    public static func race<T: Sendable>(_ limit: Duration, _ what: String,
                                         _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await race(what, timer: { try? await Task.sleep(for: limit) }, body)
    }

    /// Like `race`, with the time limit given as `timer`: when it returns, time is up.
    public static func race<T: Sendable>(_ what: String, timer: @escaping @Sendable () async -> Void,
                                         _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let first = FirstOutcome()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let work = Task {
                let outcome: Result<T, any Error>
                do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
                if first.claim() { continuation.resume(with: outcome) }
            }
            let timer = Task {
                await timer()
                guard !Task.isCancelled, first.claim() else { return }
                work.cancel()
                continuation.resume(throwing: TestFailure("\(what) did not finish in time"))
            }
            Task {
                _ = await work.result
                timer.cancel()
            }
        }
    }

    /// A one-shot event tasks can wait for.
    public final class Signal: @unchecked Sendable {
        private let lock = NSLock()
        private var fired = false
        private var waiters: [CheckedContinuation<Void, Never>] = []

        public init() {}

        public func fire() {
            let toResume = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
                fired = true
                defer { waiters = [] }
                return waiters
            }
            for waiter in toResume { waiter.resume() }
        }

        public func wait() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = lock.withLock { () -> Bool in
                    if fired { return true }
                    waiters.append(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        }
    }

    /// True for exactly one caller.
    private final class FirstOutcome: @unchecked Sendable {
        private let lock = NSLock()
        private var claimed = false
        func claim() -> Bool { lock.withLock { defer { claimed = true }; return !claimed } }
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension TestResponse {
    /// The OCI error code of an error response, or nil.
    public var ociErrorCode: String? {
        guard let json = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
              let errors = json["errors"] as? [[String: Any]] else { return nil }
        return errors.first?["code"] as? String
    }

    public var json: Any? { try? JSONSerialization.jsonObject(with: Data(buffer: body)) }
}
