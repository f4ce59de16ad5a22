import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Registry
import Scanner
import SlipwayCore

/// The server side of the scan worker protocol (`ScanWorkerProtocol`): a `slipway worker
/// --roles scan` claims `scan` jobs from the same queue as the in-process runners (through a
/// `JobQueueRunner`, so with the same visibility timeout, retries and dead-lettering), reads the
/// layers the layer index lacks, reports them, and completes; the report is matched and stored
/// here by `ManifestScanner`, as for an in-process scan.
///
/// Permission: the worker token on every call (`builds.workerToken`; none configured, no
/// worker is admitted). Per-job calls also need the job's current claim token (`X-Slipway-Lease`),
/// which only the worker it was handed to knows; a lease expires with the claim, so a worker
/// that went quiet cannot touch a job another consumer has since claimed. The layer download
/// serves only the layers of the leased job's manifest.
struct ScanWorkerEndpoints: Sendable {
    let services: RegistryServices
    let scanner: ManifestScanner
    let indexer: LayerIndexer
    let runner: JobQueueRunner
    let workerToken: String

    /// Long-poll length (as the build lease's: a server shutting down is not held up long).
    static let leaseWait: Duration = .seconds(5)
    /// A worker's report of one layer: the parsed package databases, not the layer.
    static let maximumLayerResultBytes = 64 << 20

    enum Path {
        static let lease = ScanWorkerProtocol.leasePath
        static let heartbeat = "/buildman/v1/scans/:job/heartbeat"
        static let layer = "/buildman/v1/scans/:job/layers/:digest"
        static let complete = "/buildman/v1/scans/:job/complete"
    }

    /// Workers call these all the time (the lease long-poll every 5 s per idle worker), so
    /// their successful requests log at `debug`.
    static let observedRoutes: [ObservedRoute] = [
        ObservedRoute(path: Path.lease, name: "worker_scan_lease", logLevel: .debug),
        ObservedRoute(path: Path.heartbeat, name: "worker_scan_heartbeat", logLevel: .debug),
        ObservedRoute(path: Path.layer, name: "worker_scan_layer", logLevel: .debug),
        ObservedRoute(path: Path.complete, name: "worker_scan_complete", logLevel: .debug),
    ]

    func register(_ router: Router<SlipwayRequestContext>) {
        router.post(RouterPath(Path.lease)) { request, _ in try await run(request) { try await lease(request) } }
        router.post(RouterPath(Path.heartbeat)) { request, context in try await run(request) { try await heartbeat(request, context) } }
        router.get(RouterPath(Path.layer)) { request, context in try await run(request) { try await download(request, context) } }
        router.post(RouterPath(Path.layer)) { request, context in try await run(request) { try await report(request, context) } }
        router.post(RouterPath(Path.complete)) { request, context in try await run(request) { try await complete(request, context) } }
    }

    typealias Failure = WorkerToken.Failure

    private func run(_ request: Request, _ body: () async throws -> Response) async throws -> Response {
        try await WorkerToken.guarded(request, workerToken: workerToken, body)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ request: Request, upTo limit: Int = 1 << 20) async throws -> T {
        var request = request
        let body: ByteBuffer
        do { body = try await request.collectBody(upTo: limit) } catch {
            throw Failure(status: .contentTooLarge, message: "the \(T.self) is larger than \(limit) bytes")
        }
        do { return try JSONDecoder().decode(T.self, from: Data(buffer: body)) } catch {
            throw Failure(status: .badRequest, message: "malformed \(T.self)")
        }
    }

    // MARK: Lease

    /// Claims the oldest claimable scan. A job with nothing left to read (an index, a deleted
    /// manifest, layers all indexed already) is finished here and the next one claimed; the
    /// first that needs layers read goes to the worker.
    func lease(_ request: Request) async throws -> Response {
        let body = try await decode(ScanLeaseRequest.self, request)
        let deadline = ContinuousClock.now + Self.leaseWait
        var wakeUps = services.jobs.wakeUps(queue: ScanQueues.scan, fallbackPoll: .seconds(1)).makeAsyncIterator()
        while ContinuousClock.now < deadline, await wakeUps.next() != nil {
            for job in try await runner.claim(limit: 1) {
                if await runner.settleIfAbandoned(job) { continue }
                if let lease = try await leaseOrFinish(job) {
                    services.logger.info("scan leased to a worker", metadata: [
                        "job.id": "\(job.id)", "manifest": "\(lease.manifest)", "layers": "\(lease.layers.count)", "worker": "\(body.workerID)"])
                    return json(lease)
                }
            }
        }
        return Response(status: .noContent)
    }

    private func leaseOrFinish(_ job: QueuedJob) async throws -> ScanLease? {
        let toIndex: (manifest: Digest, layers: [Descriptor])?
        do {
            toIndex = try await scanner.layersToIndex(try job.decodePayload(ScanJob.self))
        } catch {
            await runner.settle(job, await settled(job) { throw error })
            return nil
        }
        guard let toIndex, let token = job.claimToken else {
            await runner.settle(job, await settled(job) { try await scanner.attempt(job, layers: scanner.reportedLayers) })
            return nil
        }
        let visibility = runner.settings.visibilityTimeout.components.seconds
        return ScanLease(jobID: job.id, leaseToken: token, manifest: toIndex.manifest.description,
                         layers: toIndex.layers.map { ScanLease.Layer(digest: $0.digest.description, size: $0.size, mediaType: $0.mediaType) },
                         heartbeatIntervalSeconds: Int(max(1, visibility / 6)))
    }

    /// `attempt`'s outcome, an error being retried after the backoff (as the runner does).
    private func settled(_ job: QueuedJob, _ attempt: () async throws -> JobOutcome) async -> JobOutcome {
        do { return try await attempt() } catch { return .retry(String(describing: error)) }
    }

    // MARK: Leased job

    /// The job named in the path, if this request holds its current, unexpired claim.
    private func leased(_ request: Request, _ context: SlipwayRequestContext) async throws -> QueuedJob {
        let id = context.parameters.get("job").flatMap { Int64($0) } ?? -1
        guard let token = request.headers[HTTPField.Name(ScanWorkerProtocol.leaseHeader)!],
              let job = try await services.jobs.job(id: id), job.queue == ScanQueues.scan, job.status == .ready,
              let claim = job.claimToken, ConstantTime.equal(claim, token),
              let until = job.leaseUntil, until > services.jobs.clock.now() else {
            throw Failure(status: .conflict, message: "this worker does not hold the lease of scan job \(id)")
        }
        return job
    }

    /// The leased job and the layer named in the path, which must be one of its image's layers.
    private func leasedLayer(_ request: Request, _ context: SlipwayRequestContext) async throws -> (QueuedJob, Digest) {
        let job = try await leased(request, context)
        guard let digest = context.parameters.get("digest").flatMap({ try? Digest(parsing: $0) }),
              case .image(_, let layers) = try await scanner.plan(try job.decodePayload(ScanJob.self)),
              layers.contains(where: { $0.digest == digest }) else {
            throw Failure(status: .notFound, message: "not a layer of the leased scan's image")
        }
        return (job, digest)
    }

    func heartbeat(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        let job = try await leased(request, context)
        guard try await runner.renewLease(job) else {
            throw Failure(status: .conflict, message: "the lease of scan job \(job.id) has expired")
        }
        return Response(status: .noContent)
    }

    /// Streams a leased layer from blob storage (never buffered here).
    func download(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        let (_, digest) = try await leasedLayer(request, context)
        let storage = services.storage
        guard let size = try await storage.stat(digest) else {
            throw Failure(status: .notFound, message: "layer \(digest) is not in blob storage")
        }
        return Response(status: .ok, headers: [.contentType: "application/octet-stream"],
                        body: ResponseBody(contentLength: Int(size)) { writer in
                            try await storage.read(digest, range: 0..<size) { try await writer.write($0) }
                            try await writer.finish(nil)
                        })
    }

    /// Keeps what the worker read in a layer, through the indexer's own path.
    func report(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        let (_, digest) = try await leasedLayer(request, context)
        let result = try await decode(ScanLayerResult.self, request, upTo: Self.maximumLayerResultBytes)
        let record: ScanStore.LayerRecord
        switch (result.contents, result.failure) {
        case (let contents?, nil): record = .indexed(contents)
        case (nil, let reason?) where !reason.isEmpty: record = .failed(reason)
        default: throw Failure(status: .badRequest, message: "a layer result has either contents or a failure")
        }
        try await indexer.keep(digest.description, record, by: .worker)
        return Response(status: .noContent)
    }

    /// Matches and stores the report from the layers the worker reported and acks the job; a
    /// worker that could not finish gets the job retried after the backoff.
    func complete(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        let job = try await leased(request, context)
        let body = try await decode(ScanCompletion.self, request)
        let outcome: JobOutcome
        if let error = body.error {
            outcome = await settled(job) { try await scanner.attempt(job) { _ in throw WorkerGaveUp(message: error) } }
        } else {
            if let missing = try await unreported(job) {
                throw Failure(status: .badRequest, message: "layer \(missing) of the leased scan was not reported")
            }
            outcome = await settled(job) { try await scanner.attempt(job, layers: scanner.reportedLayers) }
        }
        guard await runner.settle(job, outcome) else {
            throw Failure(status: .conflict, message: "the lease of scan job \(job.id) has expired")
        }
        return Response(status: .noContent)
    }

    /// The first of the image's layers, bottom up, without a record before one that failed (a
    /// worker stops at a layer that cannot be indexed: the image fails, the rest is not needed).
    private func unreported(_ job: QueuedJob) async throws -> Digest? {
        guard case .image(_, let layers) = try await scanner.plan(try job.decodePayload(ScanJob.self)) else { return nil }
        for layer in layers {
            switch try await scanner.store.layer(layer.digest.description) {
            case nil: return layer.digest
            case .failed: return nil
            case .indexed: continue
            }
        }
        return nil
    }

    private func json(_ value: some Encodable) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(bytes: (try? JSONEncoder().encode(value)) ?? Data())))
    }
}

/// A worker's report that it could not finish the scan (retried like a storage error here).
struct WorkerGaveUp: Error, CustomStringConvertible {
    let message: String
    var description: String { "the scan worker gave up: \(message)" }
}
