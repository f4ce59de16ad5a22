import Accounts
import BuildProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Registry
import SlipwayCore

/// The orchestrator side of the worker protocol (see `WorkerProtocol`), including the download
/// of uploaded build contexts (`FileDropUpload` takes them in). Workers authenticate with the
/// shared worker token; per-build calls also present their lease id, so a worker that lost its
/// lease cannot touch the build.
struct WorkerEndpoints: Sendable {
    let services: RegistryServices
    let store: BuildStore
    let queue: BuildQueue
    let workerToken: String
    let sources: any BuildSourceSecrets

    /// Long-poll length. Short enough that a server shutting down is never held up for long by
    /// a waiting worker (it finishes in-flight requests first).
    static let leaseWait: Duration = .seconds(5)
    /// The longest a heartbeat is held waiting for a stop, for the same reason.
    static let heartbeatHold: Duration = .seconds(5)

    /// The worker protocol's paths as registered, one per endpoint.
    enum Path {
        static let lease = WorkerProtocol.leasePath
        static let heartbeat = "/buildman/v1/builds/:id/heartbeat"
        static let phase = "/buildman/v1/builds/:id/phase"
        static let logs = "/buildman/v1/builds/:id/logs"
        static let complete = "/buildman/v1/builds/:id/complete"
        static let context = "/buildman/v1/builds/:id/context"
        static let upload = FileDropUpload.path
    }

    /// Route names for metrics and logs. Workers call these all the time (the lease long-poll
    /// every 5 s per idle worker), so their successful requests log at `debug`; a context
    /// upload is a user's request and logs at `info`.
    static let observedRoutes: [ObservedRoute] = [
        ObservedRoute(path: Path.lease, name: "worker_lease", logLevel: .debug),
        ObservedRoute(path: Path.heartbeat, name: "worker_heartbeat", logLevel: .debug),
        ObservedRoute(path: Path.phase, name: "worker_phase", logLevel: .debug),
        ObservedRoute(path: Path.logs, name: "worker_logs", logLevel: .debug),
        ObservedRoute(path: Path.complete, name: "worker_complete", logLevel: .debug),
        ObservedRoute(path: Path.context, name: "worker_context", logLevel: .debug),
        ObservedRoute(path: Path.upload, name: "userfiles_upload", logLevel: .info),
    ]

    func register(_ router: Router<SlipwayRequestContext>) {
        router.post(RouterPath(Path.lease)) { request, context in try await run(request) { try await lease(request, context) } }
        router.post(RouterPath(Path.heartbeat)) { request, context in try await run(request) { try await heartbeat(request, context) } }
        router.post(RouterPath(Path.phase)) { request, context in try await run(request) { try await phase(request, context) } }
        router.post(RouterPath(Path.logs)) { request, context in try await run(request) { try await logs(request, context) } }
        router.post(RouterPath(Path.complete)) { request, context in try await run(request) { try await complete(request, context) } }
        // The context download is a plain URL for the worker's HTTP client: the lease id in the
        // query is the credential (random, and valid only while the lease is held).
        router.get(RouterPath(Path.context)) { request, context in try await buildContext(request, context) }
    }

    typealias Failure = WorkerToken.Failure

    private func run(_ request: Request, _ body: () async throws -> Response) async throws -> Response {
        try await WorkerToken.guarded(request, workerToken: workerToken, body)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        var request = request
        let body = try await request.collectBody(upTo: 4 << 20)
        do { return try JSONDecoder().decode(T.self, from: Data(buffer: body)) } catch {
            throw Failure(status: .badRequest, message: "malformed \(T.self)")
        }
    }

    private func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(bytes: (try? JSONEncoder().encode(value)) ?? Data())))
    }

    /// The build named in the path, if this request holds its lease.
    private func leased(_ request: Request, _ context: SlipwayRequestContext) async throws -> BuildRecord {
        let id = context.parameters.get("id") ?? ""
        guard let leaseID = request.headers[.init(WorkerProtocol.leaseHeader)!], await queue.validLease(uuid: id, leaseID: leaseID),
              let record = try await store.build(uuid: id) else {
            throw Failure(status: .conflict, message: "this worker does not hold the lease of build \(id)")
        }
        return record
    }

    func lease(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        let body = try await decode(LeaseRequest.self, request)
        guard let (record, leaseID, attempt) = try await queue.lease(workerID: body.workerID, platforms: body.platforms, wait: Self.leaseWait) else {
            return Response(status: .noContent)
        }
        let origin = RequestOrigin(request: request, config: services.config)
        guard let repo = try await services.accounts.repositoryByID(record.repositoryID) else {
            _ = try await queue.complete(uuid: record.uuid, leaseID: leaseID, workerID: body.workerID,
                                         completion: Completion(outcome: .error, message: "the repository was deleted"))
            return Response(status: .noContent)
        }
        var secrets: [String: String]?
        if let sealed = record.buildSecretsSealed {
            do {
                secrets = try BuildInputs.openSecrets(sealed, buildUUID: record.uuid, box: services.secretBox)
            } catch {
                // The instance key changed since the build was queued: the build cannot have its
                // secrets, so it fails with a message that says so (no value is logged).
                _ = try await queue.complete(uuid: record.uuid, leaseID: leaseID, workerID: body.workerID,
                                             completion: Completion(outcome: .error, message: "the build's secrets cannot be unsealed (was the instance key replaced?); start the build again"))
                return Response(status: .noContent)
            }
        }
        // Push credentials: a write token for this repository that lives as long as the build.
        let code = APITokens.generate()
        let token = try await services.accounts.createRepositoryToken(
            repositoryID: repo.id, codeHash: APITokens.hash(code), friendlyName: "build \(record.uuid)", role: .write, kind: "build-worker",
            expiresAt: Clock.nowMillis() + Int64(services.config.builds.timeoutSeconds + 600) * 1000)
        try await store.setBuildPushToken(uuid: record.uuid, tokenUUID: token.uuid)
        var notices: [String] = []
        let layerCache = try await layerCache(record, target: repo, notices: &notices)
        let source: BuildSource
        var hostKeys: GitHostKeyPolicy?
        switch record.sourceKind {
        case "archive_url": source = .archiveURL(url: record.archiveURL ?? "")
        case "git":
            // The deploy key is looked up now, from the trigger, and travels only in this response;
            // so do the ssh host keys the clone trusts.
            let key = try await record.triggerID.asyncMap { id in try await sources.deployKey(triggerID: id) } ?? nil
            hostKeys = try await record.triggerID.asyncMap { id in try await sources.gitHostKeys(triggerID: id) } ?? nil
            source = .git(url: record.gitURL ?? "", commit: record.commitSHA ?? "", sshPrivateKey: key)
        default: source = .upload(url: "\(origin.baseURL)\(WorkerProtocol.buildPath(record.uuid, "context"))?lease=\(leaseID)")
        }
        let dockerfile = record.context.isEmpty ? record.dockerfilePath : String(record.dockerfilePath.dropFirst(record.context.count + 1))
        let limits = services.config.builds.limits(forNamespace: repo.path.namespace)
        let pack = BuildPack(
            buildID: record.uuid, leaseID: leaseID, attempt: attempt, source: source, contextPath: record.context, dockerfilePath: dockerfile,
            registry: Self.registryAddress(origin: origin, publicURL: services.config.server.publicURL), repository: repo.path.description, tags: record.tags,
            pushCredentials: RegistryCredentials(username: "$token", password: code), pullCredentials: try await pullCredentials(record),
            tlsVerify: origin.baseURL.hasPrefix("https://"), timeoutSeconds: limits.timeoutSeconds, heartbeatIntervalSeconds: max(1, services.config.builds.leaseTimeoutSeconds / 6),
            allowPrivateTargets: services.config.security.allowPrivateTargets,
            sshHostKeys: hostKeys,
            buildArgs: record.buildArgs.isEmpty ? nil : record.buildArgs, buildSecrets: secrets, layerCache: layerCache,
            notices: notices.isEmpty ? nil : notices,
            limits: BuildLimits(cpuMillicores: limits.cpuMillicores, memoryBytes: limits.memoryBytes, pids: limits.pids),
            platforms: record.platforms.isEmpty ? nil : record.platforms)
        return json(pack)
    }

    /// The build's layer cache with a write token for that repository alone, if the user the
    /// build acts for may still write to it; otherwise none (the build runs without a cache and
    /// says so in its log).
    private func layerCache(_ record: BuildRecord, target: Repository, notices: inout [String]) async throws -> BuildLayerCache? {
        guard let path = record.cacheRepository else { return nil }
        guard let cache = try await LayerCacheRepository.usable(path, target: target, userID: record.cacheUserID, accounts: services.accounts) else {
            notices.append("layer cache \(path) skipped: it no longer exists or the build's user may no longer write to it")
            return nil
        }
        let code = APITokens.generate()
        let token = try await services.accounts.createRepositoryToken(
            repositoryID: cache.id, codeHash: APITokens.hash(code), friendlyName: "build \(record.uuid) layer cache", role: .write, kind: "build-cache",
            expiresAt: Clock.nowMillis() + Int64(services.config.builds.timeoutSeconds + 600) * 1000)
        try await store.setBuildCacheToken(uuid: record.uuid, tokenUUID: token.uuid)
        return BuildLayerCache(repository: cache.path.description, credentials: RegistryCredentials(username: "$token", password: code))
    }

    /// Where the worker pushes: the public URL's `host[:port]` when one is set, so a worker that
    /// reached a replica under an internal name still pushes through the load balancer (and with
    /// the TLS verification the public URL's scheme implies); otherwise the registry's service
    /// name, as the request named it.
    static func registryAddress(origin: RequestOrigin, publicURL: String) -> String {
        guard !publicURL.isEmpty, let url = URLComponents(string: publicURL), let host = url.host, !host.isEmpty else {
            return origin.service
        }
        let name = host.contains(":") ? "[\(host)]" : host
        return url.port.map { "\(name):\($0)" } ?? name
    }

    /// The pull robot's current token, unsealed at lease time (the queue stores only the robot's
    /// id, so a regenerated token is picked up and a deleted robot fails the pull clearly).
    private func pullCredentials(_ record: BuildRecord) async throws -> RegistryCredentials? {
        guard let id = record.pullRobotID, let robotNS = try await services.accounts.namespace(id: id),
              let owner = robotNS.name.split(separator: "+").first.map(String.init),
              let ownerNS = try await services.accounts.namespace(named: owner),
              let robot = try await services.accounts.robot(named: robotNS.name, ownerID: ownerNS.id),
              let token = try services.robotToken(robot) else { return nil }
        return RegistryCredentials(username: robot.name, password: token)
    }

    func heartbeat(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        let record = try await leased(request, context)
        let body = try await decode(Heartbeat.self, request)
        guard var response = try await queue.heartbeat(uuid: record.uuid, leaseID: record.leaseID ?? "", workerID: body.workerID) else {
            throw Failure(status: .conflict, message: "the lease of build \(record.uuid) has expired")
        }
        if response.stop == nil, let wait = body.waitSeconds, wait > 0 {
            response.stop = await queue.awaitStop(uuid: record.uuid, leaseID: record.leaseID ?? "", upTo: min(.seconds(wait), Self.heartbeatHold))
            response.held = true
        }
        return json(response)
    }

    func phase(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        let record = try await leased(request, context)
        let body = try await decode(PhaseUpdate.self, request)
        guard !body.phase.isTerminal, body.phase != .waiting, body.phase != .buildScheduled else {
            throw Failure(status: .badRequest, message: "workers report unpacking, pulling, building or pushing; use complete to finish")
        }
        // The worker's stamp of the change (older workers send none: then it is now).
        let at = body.data[LogTimestamp.key].flatMap(LogTimestamp.millis)
        _ = try await store.setBuildPhase(uuid: record.uuid, leaseID: record.leaseID ?? "", phase: body.phase, at: at)
        if let platform = body.data["platform"], record.platforms.contains(platform) {
            _ = try await store.setPlatformPhase(uuid: record.uuid, leaseID: record.leaseID ?? "", platform: platform, phase: body.phase)
        }
        return Response(status: .noContent)
    }

    func logs(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        let record = try await leased(request, context)
        let body = try await decode(LogBatch.self, request)
        guard body.firstSequence >= 0, body.entries.count <= 10_000 else { throw Failure(status: .badRequest, message: "bad log batch") }
        // Phase and command entries from workers that do not stamp them get the arrival time.
        let now = Clock.nowMillis()
        let entries = body.entries.map { $0.stamped(millis: now) }
        let next = try await store.appendBuildLogs(buildID: record.id, first: body.firstSequence, entries: entries, cap: services.config.builds.maxLogEntries)
        return json(LogBatchResponse(nextSequence: next))
    }

    func complete(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        let record = try await leased(request, context)
        let body = try await decode(Completion.self, request)
        let workerID = request.headers[.init("X-Slipway-Worker")!] ?? record.workerID ?? ""
        guard try await queue.complete(uuid: record.uuid, leaseID: record.leaseID ?? "", workerID: workerID, completion: body) else {
            throw Failure(status: .conflict, message: "the lease of build \(record.uuid) has expired")
        }
        if body.outcome == .complete {
            // The image is complete and pullable already; provenance and SBOM follow it.
            let origin = RequestOrigin(request: request, config: services.config)
            await BuildAttestor(services: services, store: store).attest(buildUUID: record.uuid, .init(
                registry: Self.registryAddress(origin: origin, publicURL: services.config.server.publicURL),
                baseURL: services.config.server.publicURL.isEmpty ? origin.baseURL : services.config.server.publicURL.trimmingCharacters(in: ["/"]),
                dockerfileDigest: body.dockerfileDigest))
        }
        return Response(status: .noContent)
    }

    /// Streams an uploaded build context to the worker that holds the build's lease.
    func buildContext(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        let buildID = context.parameters.get("id") ?? ""
        guard let lease = request.uri.queryParameters["lease"], await queue.validLease(uuid: buildID, leaseID: String(lease)),
              let record = try await store.build(uuid: buildID) else {
            return Response(status: .forbidden)
        }
        guard let id = record.fileID, let drop = try await store.fileDrop(id: id), let digestText = drop.digest,
              let digest = try? Digest(parsing: digestText), let size = drop.size else {
            return Response(status: .notFound)
        }
        let storage = services.storage
        return Response(status: .ok, headers: [.contentType: drop.mimeType],
                        body: ResponseBody(contentLength: Int(size)) { writer in
                            try await storage.read(digest, range: 0..<size) { try await writer.write($0) }
                            try await writer.finish(nil)
                        })
    }
}
