import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOCore
import BuildOrchestrator
import BuildWorker
import Notifications
import Triggers
import WebUI
import ServiceLifecycle
import Registry
import ScanService
import SlipwayServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the registry server.",
        discussion: """
            On first start an admin user is created: SLIPWAY_ADMIN_USER / SLIPWAY_ADMIN_PASSWORD when set,
            otherwise user 'admin' with a generated password that is printed once.
            """)

    @OptionGroup var options: CommonOptions

    @Option(name: .long, help: "Address to bind (default 127.0.0.1).")
    var host: String?

    @Option(name: .long, help: "TCP port (default 8080; 0 picks a free port).")
    var port: Int?

    func run() async throws {
        var extra: [String: String] = [:]
        if let host { extra["server.host"] = host }
        if let port { extra["server.port"] = String(port) }
        let config = try options.load(extra: extra)
        let logger = makeLogger(config)
        // The database is open for the whole run: its pool is a child task of this scope and
        // closes after every service of the group has stopped.
        try await SlipwaySchema.withDatabase(config: config, logger: logger) { database in
            let built = try await SlipwayApplication.makeServices(config: config, database: database, logger: logger)
            let boot = built.bootstrap
            let buildFarm = BuildFarmModule(services: built.services, sources: TriggersModule.buildSources(services: built.services))
            let cacheDirectory = config.builds.baseImageCacheDir.isEmpty
                ? URL(fileURLWithPath: config.dataDir).appendingPathComponent("build-cache") : URL(fileURLWithPath: config.builds.baseImageCacheDir)
            // Decided before serving: a machine that cannot isolate builds as configured says so
            // and does not start (builds.isolation: chroot runs them without that boundary).
            let isolation = try await WorkerIsolation.prepare(
                isolation: BuilderIsolation(rawValue: config.builds.isolation.rawValue) ?? .rootless,
                buildUserName: config.builds.buildUser, builder: "buildah",
                workRoot: URL(fileURLWithPath: config.dataDir).appendingPathComponent("builds"), cacheDirectory: cacheDirectory,
                logger: logger, setUp: config.builds.inProcessWorkers > 0)
            let workers = InProcessWorkers(count: config.builds.inProcessWorkers, grace: .seconds(config.builds.shutdownGraceSeconds), token: buildFarm.workerToken,
                                           isolation: isolation, cacheMaxBytes: config.builds.baseImageCacheMaxBytes, logger: logger)
            let triggers = TriggersModule(services: built.services, buildFarm: buildFarm)
            let scans = ScanServiceModule(services: built.services)
            let notifications = NotificationsModule(services: built.services)
            let modules: [any SlipwayModule] = [
                buildFarm, triggers, notifications,
                WebUIModule(services: built.services, buildFarm: buildFarm, triggers: triggers, scans: scans,
                            identityNotices: notifications.identityNotices()),
                scans,
                VulnerabilityFeedsModule(services: built.services),
            ]
            let app = SlipwayApplication.application(services: built.services, modules: modules) { channel in
                let port = channel.localAddress?.port ?? config.server.port
                workers.serverStarted(port: port)
                let url = config.server.publicURL.isEmpty ? "http://\(config.server.host):\(port)" : config.server.publicURL
                var lines = ["Slipway is ready at \(url)"]
                let registryHost = url.replacingOccurrences(of: "http://", with: "").replacingOccurrences(of: "https://", with: "")
                if let admin = boot.adminName {
                    if let password = boot.generatedPassword {
                        lines.append("Admin user '\(admin)' was created with password: \(password)  (shown once; store it now)")
                    }
                    lines.append("Log in with: podman login --tls-verify=false -u \(admin) \(registryHost)")
                }
                FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
            }
            let group = ServiceGroup(services: [app, workers], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            try await group.run()
        }
    }
}

/// The build workers of `slipway serve`: the same worker code as `slipway worker`, talking to
/// this server over loopback once it listens.
struct InProcessWorkers: Service {
    let count: Int
    let grace: Duration
    let token: String
    /// Isolation, build user, work and cache directories.
    let isolation: WorkerIsolation
    /// Size bound of the base-image cache; 0 disables it.
    let cacheMaxBytes: Int64
    let logger: Logger
    private let port = AsyncStream<Int>.makeStream()

    init(count: Int, grace: Duration, token: String, isolation: WorkerIsolation, cacheMaxBytes: Int64, logger: Logger) {
        self.count = count
        self.grace = grace
        self.token = token
        self.isolation = isolation
        self.cacheMaxBytes = cacheMaxBytes
        self.logger = logger
    }

    func serverStarted(port: Int) {
        self.port.continuation.yield(port)
        self.port.continuation.finish()
    }

    func run() async throws {
        // A service that returns early ends the whole ServiceGroup: with no workers, idle until shutdown.
        guard count > 0 else { try? await gracefulShutdown(); return }
        var iterator = port.stream.makeAsyncIterator()
        guard let port = await iterator.next() else { return }
        let platforms = WorkerPlatforms.detect()
        logger.info("\(platforms.summary)", metadata: ["platforms": "\(platforms.all.joined(separator: ","))"])
        let agent = WorkerAgent(
            client: OrchestratorClient(baseURL: URL(string: "http://127.0.0.1:\(port)")!, token: token, workerID: "in-process-\(getpid())",
                                       platforms: platforms.all),
            runner: BuildRunner(configuration: .init(workRoot: isolation.workRoot, isolation: isolation.isolation,
                                                     baseImageCache: isolation.baseImageCache(maxBytes: cacheMaxBytes, logger: logger),
                                                     buildUser: isolation.buildUser, platforms: platforms)),
            concurrency: count, shutdownGrace: grace, logger: logger)
        try await agent.run()
    }
}
