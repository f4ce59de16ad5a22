import ArgumentParser
import BuildWorker
import Foundation
import Logging
import ServiceLifecycle

/// `slipway worker`: a remote worker that leases builds, image scans, or both from a Slipway
/// server over HTTP (`--roles`).
struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a worker that leases builds (and, with --roles scan, image scans) from a Slipway server.",
        discussion: "Builds run rootless by default: buildah (or podman) runs as --build-user, created with a subordinate id range when the worker is root, and each RUN step gets user, mount and PID namespaces of its own. The scan role indexes image layers the server streams to it. SIGTERM stops leasing; running builds are reported as interrupted and retried, running scans finish.")

    /// What a worker process does.
    enum Role: String, CaseIterable {
        case build, scan
    }

    @Option(name: .long, help: "Base URL of the Slipway server, e.g. http://registry.internal:8080.") var orchestrator: String
    @Option(name: .long, help: "The shared worker token (builds.workerToken on the server); visible to other local users in the process list, prefer --token-file or SLIPWAY_WORKER_TOKEN.") var token: String?
    @Option(name: .customLong("token-file"), help: "File holding the worker token (keep it mode 0600).") var tokenFile: String?
    @Option(name: .long, help: "What this worker does, comma-separated: build, scan (default build).") var roles = "build"
    @Option(name: .long, help: "Builds to run at once.") var concurrency = 1
    @Option(name: .customLong("scan-concurrency"), help: "Image scans to run at once (scan role).") var scanConcurrency = 1
    @Option(name: .customLong("work-dir"), help: "Where per-build work directories go.") var workDir = NSTemporaryDirectory() + "slipway-worker"
    @Option(name: .long, help: "Builder: buildah or podman.") var builder = "buildah"
    @Option(name: .long, help: "How build steps are isolated: rootless (default), chroot (no security boundary) or oci.") var isolation = "rootless"
    @Option(name: .customLong("build-user"), help: "The unprivileged account rootless builds run as (created when missing and the worker is root).") var buildUser = "slipway-build"
    @Option(name: .long, help: "Worker id reported to the orchestrator (default: host name and pid).") var id: String?
    @Option(name: .customLong("shutdown-grace"), help: "Seconds running builds may go on after SIGTERM before they are stopped and requeued.") var shutdownGrace = 30
    @Option(name: .customLong("builder-executable"), help: "Path of the builder binary (default: buildah or podman from PATH).") var builderExecutable: String?
    @Option(name: .customLong("base-image-cache-dir"), help: "Where base images pulled for each namespace are kept between that namespace's builds (default: <work-dir>/base-image-cache).") var baseImageCacheDir: String?
    @Option(name: .customLong("base-image-cache-max-bytes"), help: "Size bound of the base-image cache; least recently used namespaces are dropped first; 0 disables the cache.") var baseImageCacheMaxBytes: Int64 = BaseImageCache.defaultMaxBytes

    func validate() throws {
        guard let url = URL(string: orchestrator), ["http", "https"].contains(url.scheme ?? "") else {
            throw ValidationError("--orchestrator must be an http(s) URL")
        }
        _ = try parsedRoles()
        guard (1...64).contains(concurrency) else { throw ValidationError("--concurrency must be 1 to 64") }
        guard (1...64).contains(scanConcurrency) else { throw ValidationError("--scan-concurrency must be 1 to 64") }
        guard BuilderTool(rawValue: builder) != nil else { throw ValidationError("--builder must be buildah or podman") }
        guard BuilderIsolation(rawValue: isolation) != nil else { throw ValidationError("--isolation must be rootless, chroot or oci") }
        let sources = [token != nil, tokenFile != nil, ProcessInfo.processInfo.environment["SLIPWAY_WORKER_TOKEN"] != nil].filter { $0 }.count
        guard sources == 1 else { throw ValidationError("give the worker token once: --token, --token-file or SLIPWAY_WORKER_TOKEN") }
        guard (0...86_400).contains(shutdownGrace) else { throw ValidationError("--shutdown-grace must be 0 to 86400 seconds") }
        guard baseImageCacheMaxBytes >= 0 else { throw ValidationError("--base-image-cache-max-bytes must be 0 (no cache) or more") }
    }

    func parsedRoles() throws -> Set<Role> {
        var parsed: Set<Role> = []
        for name in roles.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
            guard let role = Role(rawValue: name) else { throw ValidationError("--roles takes build and/or scan, not \(name)") }
            parsed.insert(role)
        }
        guard !parsed.isEmpty else { throw ValidationError("--roles needs build, scan or both") }
        return parsed
    }

    /// The worker token from the one place it was given.
    func workerToken() throws -> String {
        if let token { return token }
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else { throw ValidationError("cannot read --token-file \(tokenFile)") }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return ProcessInfo.processInfo.environment["SLIPWAY_WORKER_TOKEN"] ?? ""
    }

    func run() async throws {
        var logger = Logger(label: "slipway-worker")
        logger.logLevel = .info
        let workerID = id ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
        let roles = try parsedRoles()
        // What this worker builds (native, and emulated through qemu-user binfmt entries),
        // reported with every lease request.
        let platforms = WorkerPlatforms.detect()
        if roles.contains(.build) { logger.info("\(platforms.summary)", metadata: ["platforms": "\(platforms.all.joined(separator: ","))"]) }
        let client = OrchestratorClient(baseURL: URL(string: orchestrator)!, token: try workerToken(), workerID: workerID, platforms: platforms.all)
        var services: [any Service] = []
        if roles.contains(.build) { services.append(try await buildAgent(client: client, platforms: platforms, logger: logger)) }
        if roles.contains(.scan) {
            services.append(ScanAgent(client: client, concurrency: scanConcurrency, workDirectory: URL(fileURLWithPath: workDir + "/scans"), logger: logger))
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }

    /// The build role: isolation prepared (or refused with what to change) before any lease.
    private func buildAgent(client: OrchestratorClient, platforms: WorkerPlatforms, logger: Logger) async throws -> WorkerAgent {
        let tool = BuilderTool(rawValue: builder)!
        let isolation = try await WorkerIsolation.prepare(
            isolation: BuilderIsolation(rawValue: self.isolation)!, buildUserName: buildUser, builder: builderExecutable ?? tool.rawValue,
            workRoot: URL(fileURLWithPath: workDir), cacheDirectory: URL(fileURLWithPath: baseImageCacheDir ?? workDir + "/base-image-cache"),
            logger: logger)
        return WorkerAgent(
            client: client,
            runner: BuildRunner(configuration: .init(workRoot: isolation.workRoot, tool: tool,
                                                     builderExecutable: builderExecutable, isolation: isolation.isolation,
                                                     pusher: ImagePusher(executable: builderExecutable ?? "buildah"),
                                                     baseImageCache: isolation.baseImageCache(maxBytes: baseImageCacheMaxBytes, logger: logger),
                                                     buildUser: isolation.buildUser, platforms: platforms)),
            concurrency: concurrency, shutdownGrace: .seconds(shutdownGrace), logger: logger)
    }
}
