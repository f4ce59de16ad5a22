import ArgumentParser
import BuildWorker
import Foundation
import Logging
import ServiceLifecycle

/// `slipway worker`: a remote build worker that leases builds from an orchestrator over HTTP.
struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a build worker that leases builds from a Slipway server.",
        discussion: "The worker runs buildah (or podman) in chroot isolation by default. SIGTERM stops leasing; running builds are reported as interrupted and retried.")

    @Option(name: .long, help: "Base URL of the Slipway server, e.g. http://registry.internal:8080.") var orchestrator: String
    @Option(name: .long, help: "The shared worker token (builds.workerToken on the server).") var token: String
    @Option(name: .long, help: "Builds to run at once.") var concurrency = 1
    @Option(name: .customLong("work-dir"), help: "Where per-build work directories go.") var workDir = NSTemporaryDirectory() + "slipway-worker"
    @Option(name: .long, help: "Builder: buildah or podman.") var builder = "buildah"
    @Option(name: .long, help: "Worker id reported to the orchestrator (default: host name and pid).") var id: String?
    @Option(name: .customLong("shutdown-grace"), help: "Seconds running builds may go on after SIGTERM before they are stopped and requeued.") var shutdownGrace = 30
    @Option(name: .customLong("builder-executable"), help: "Path of the builder binary (default: buildah or podman from PATH).") var builderExecutable: String?
    @Option(name: .customLong("base-image-cache-dir"), help: "Where base images pulled for each namespace are kept between that namespace's builds (default: <work-dir>/base-image-cache).") var baseImageCacheDir: String?
    @Option(name: .customLong("base-image-cache-max-bytes"), help: "Size bound of the base-image cache; least recently used namespaces are dropped first; 0 disables the cache.") var baseImageCacheMaxBytes: Int64 = BaseImageCache.defaultMaxBytes

    func validate() throws {
        guard let url = URL(string: orchestrator), ["http", "https"].contains(url.scheme ?? "") else {
            throw ValidationError("--orchestrator must be an http(s) URL")
        }
        guard (1...64).contains(concurrency) else { throw ValidationError("--concurrency must be 1 to 64") }
        guard BuilderTool(rawValue: builder) != nil else { throw ValidationError("--builder must be buildah or podman") }
        guard (0...86_400).contains(shutdownGrace) else { throw ValidationError("--shutdown-grace must be 0 to 86400 seconds") }
        guard baseImageCacheMaxBytes >= 0 else { throw ValidationError("--base-image-cache-max-bytes must be 0 (no cache) or more") }
    }

    func run() async throws {
        var logger = Logger(label: "slipway-worker")
        logger.logLevel = .info
        let workerID = id ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
        let platforms = WorkerPlatforms.detect()
        logger.info("\(platforms.summary)", metadata: ["platforms": "\(platforms.all.joined(separator: ","))"])
        let agent = WorkerAgent(
            client: OrchestratorClient(baseURL: URL(string: orchestrator)!, token: token, workerID: workerID, platforms: platforms.all),
            runner: BuildRunner(configuration: .init(workRoot: URL(fileURLWithPath: workDir), tool: BuilderTool(rawValue: builder)!,
                                                     builderExecutable: builderExecutable,
                                                     pusher: ImagePusher(executable: builderExecutable ?? "buildah"),
                                                     baseImageCache: BaseImageCache.optional(
                                                        directory: URL(fileURLWithPath: baseImageCacheDir ?? workDir + "/base-image-cache"),
                                                        maxBytes: baseImageCacheMaxBytes, logger: logger),
                                                     platforms: platforms)),
            concurrency: concurrency, shutdownGrace: .seconds(shutdownGrace), logger: logger)
        let group = ServiceGroup(services: [agent], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}
