import ArgumentParser
import BuildWorker
import Foundation
import Logging
import ServiceLifecycle

/// `slipway worker`: a remote build worker that leases builds from an orchestrator over HTTP.
struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a build worker that leases builds from a Slipway server.",
        discussion: "Builds run rootless by default: buildah (or podman) runs as --build-user, created with a subordinate id range when the worker is root, and each RUN step gets user, mount and PID namespaces of its own. SIGTERM stops leasing; running builds are reported as interrupted and retried.")

    @Option(name: .long, help: "Base URL of the Slipway server, e.g. http://registry.internal:8080.") var orchestrator: String
    @Option(name: .long, help: "The shared worker token (builds.workerToken on the server); visible to other local users in the process list, prefer --token-file or SLIPWAY_WORKER_TOKEN.") var token: String?
    @Option(name: .customLong("token-file"), help: "File holding the worker token (keep it mode 0600).") var tokenFile: String?
    @Option(name: .long, help: "How build steps are isolated: rootless (default), chroot (no security boundary) or oci.") var isolation = "rootless"
    @Option(name: .customLong("build-user"), help: "The unprivileged account rootless builds run as (created when missing and the worker is root).") var buildUser = "slipway-build"
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
        guard BuilderIsolation(rawValue: isolation) != nil else { throw ValidationError("--isolation must be rootless, chroot or oci") }
        let sources = [token != nil, tokenFile != nil, ProcessInfo.processInfo.environment["SLIPWAY_WORKER_TOKEN"] != nil].filter { $0 }.count
        guard sources == 1 else { throw ValidationError("give the worker token once: --token, --token-file or SLIPWAY_WORKER_TOKEN") }
        guard (0...86_400).contains(shutdownGrace) else { throw ValidationError("--shutdown-grace must be 0 to 86400 seconds") }
        guard baseImageCacheMaxBytes >= 0 else { throw ValidationError("--base-image-cache-max-bytes must be 0 (no cache) or more") }
    }

    func run() async throws {
        var logger = Logger(label: "slipway-worker")
        logger.logLevel = .info
        let workerID = id ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
        let token: String
        if let given = self.token {
            token = given
        } else if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else { throw ValidationError("cannot read --token-file \(tokenFile)") }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            token = ProcessInfo.processInfo.environment["SLIPWAY_WORKER_TOKEN"] ?? ""
        }
        let tool = BuilderTool(rawValue: builder)!
        let isolation = try await WorkerIsolation.prepare(
            isolation: BuilderIsolation(rawValue: self.isolation)!, buildUserName: buildUser, builder: builderExecutable ?? tool.rawValue,
            workRoot: URL(fileURLWithPath: workDir), cacheDirectory: URL(fileURLWithPath: baseImageCacheDir ?? workDir + "/base-image-cache"),
            logger: logger)
        let agent = WorkerAgent(
            client: OrchestratorClient(baseURL: URL(string: orchestrator)!, token: token, workerID: workerID),
            runner: BuildRunner(configuration: .init(workRoot: isolation.workRoot, tool: tool,
                                                     builderExecutable: builderExecutable, isolation: isolation.isolation,
                                                     pusher: ImagePusher(executable: builderExecutable ?? "buildah"),
                                                     baseImageCache: isolation.baseImageCache(maxBytes: baseImageCacheMaxBytes, logger: logger),
                                                     buildUser: isolation.buildUser)),
            concurrency: concurrency, shutdownGrace: .seconds(shutdownGrace), logger: logger)
        let group = ServiceGroup(services: [agent], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}
