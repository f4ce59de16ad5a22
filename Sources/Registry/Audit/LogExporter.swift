import Foundation
import Logging
import Mail
import NIOCore
import OutboundHTTP
import ServiceLifecycle
import SlipwayCore
import Synchronization

/// Runs the log exports (Quay's `exportactionlogsworker`) and applies usage-log retention.
///
/// A `JobQueueRunner` over the `log-export` queue runs each export in two stages, each a
/// `LogExportJob`: `write` streams every entry in range, page by page, into blob storage as
/// `{"export_id","details":{…},"logs":[…]}` (hashed while written, committed under its sha256);
/// then, when there is a callback URL, `callback` POSTs `{export_id, start_time, end_time,
/// namespace, repository, exported_data_url, status}` with a signed download link. A callback
/// answered with anything but 2xx is retried with exponential backoff, `maxCallbackAttempts`
/// times in all. With a `callback_email`, the mail with the download link (or saying that the
/// export failed) is queued in the mail outbox in the transaction that ends the export; the
/// notifications module sends it and records `sent` or `failed` in `email_status`. Everything
/// lives in the database, so a restart (or another replica) carries on where this one stopped:
/// claims are leases that run out, renewed while a stage runs. A new export wakes the runner at
/// once (the driver's wake-up).
///
/// Retention: at start-up and then hourly, usage logs older than `logs.retentionDays` are deleted,
/// along with finished exports that old and their files.
public final class LogExporter: Service, Sendable {
    public struct Settings: Sendable {
        /// How often the runner looks for due work when no push woke it.
        public var fallbackPoll: Duration = .seconds(10)
        public var retentionInterval: Duration = .seconds(3600)
        public var maxCallbackAttempts = 5
        /// Delay before callback attempt n+1 is `callbackBackoff * 2^(n-1)`.
        public var callbackBackoff: Duration = .seconds(1)
        public var maxExportAttempts = 3
        /// How long a claim holds before another worker may take the job over; renewed while it runs.
        public var leaseSeconds: Int64 = 300
        /// Writing one export may take at most this long (Quay: 2 hours), then it ends `timedout`.
        public var maximumWorkSeconds: Int64 = 2 * 3600
        /// Usage-log rows read per query while writing.
        public var pageSize = 500
        /// Jobs run at the same time by this worker.
        public var concurrency = 2
        public init() {}
    }

    let stages: LogExportStages
    let runner: JobQueueRunner

    public init(services: RegistryServices, settings: Settings = Settings()) {
        let stages = LogExportStages(
            services: services, settings: settings, links: LogExportLinks(keys: InstanceKeys(database: services.store.database)),
            client: OutboundHTTPClient(.init(allowPrivateTargets: services.config.security.allowPrivateTargets, timeout: .seconds(10))))
        self.stages = stages
        var runnerSettings = JobQueueRunner.Settings()
        runnerSettings.concurrency = max(1, settings.concurrency)
        runnerSettings.visibilityTimeout = .seconds(settings.leaseSeconds)
        runnerSettings.fallbackPoll = settings.fallbackPoll
        runnerSettings.backoff = RetryBackoff(base: settings.callbackBackoff, cap: .seconds(3600), maxAttempts: .max)
        runnerSettings.recordAbandoned = { job, error in
            guard let payload = try? job.decodePayload(LogExportJob.self) else { return nil }
            let now = Clock.nowMillis()
            return { db in try await MetadataStore.recordAbandonedLogExport(id: payload.export, stage: payload.stage, error: error, now: now, on: db) }
        }
        self.runner = JobQueueRunner(queue: LogExportJob.queue, driver: services.jobs, settings: runnerSettings, logger: services.logger) { job in
            try await stages.run(job)
        }
    }

    var logger: Logger { stages.logger }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { try? await self.runner.run() }
            group.addTask {
                try? await cancelWhenGracefulShutdown {
                    while !Task.isCancelled {
                        do {
                            try await self.applyRetention()
                        } catch {
                            self.logger.error("usage-log retention failed", metadata: ["error": "\(error)"])
                        }
                        try await Task.sleep(for: self.stages.settings.retentionInterval)
                    }
                }
            }
        }
    }

    /// Runs every stage that is due now, `concurrency` at a time. Returns how many jobs ran.
    /// Tests call it directly.
    @discardableResult
    public func runPending() async -> Int {
        await runner.runOnce()
    }

    /// Deletes usage logs (and finished exports) older than `logs.retentionDays`; 0 keeps them.
    public func applyRetention(now: Int64 = Clock.nowMillis()) async throws {
        try await stages.applyRetention(now: now)
    }
}

/// The two stages of a log export, one `LogExportJob` each: the handler of the exporter's
/// runner, and the retention clean-up.
struct LogExportStages: Sendable {
    let services: RegistryServices
    let settings: LogExporter.Settings
    let links: LogExportLinks
    let client: OutboundHTTPClient

    var logger: Logger { services.logger }
    var store: MetadataStore { services.store }
    var now: Int64 { services.jobs.clock.now() }

    /// The runner's handler: the stage the job names, if the export is still at that stage.
    func run(_ job: QueuedJob) async throws -> JobOutcome {
        guard let payload = try? job.decodePayload(LogExportJob.self) else { return .failed("malformed log export job") }
        guard let export = try await store.logExport(id: payload.export) else { return .skipped("the export was deleted") }
        switch (payload.stage, export.status) {
        case (.write, .queued): return try await writeExport(export, job: job)
        case (.callback, .delivering): return try await deliverCallback(export, job: job)
        default: return .skipped("the export is \(export.status.rawValue)")
        }
    }

    // MARK: Writing the export

    struct LogsTimedOut: Error {}

    func writeExport(_ job: MetadataStore.LogExport, job queued: QueuedJob) async throws -> JobOutcome {
        guard job.start < job.end else {
            return try await finish(job, result: .invalidrequest, digest: nil, size: nil, error: "invalid time range")
        }
        await services.audit.flush()
        let uploadID = UUID().uuidString.lowercased()
        let storage = services.storage
        do {
            try await storage.createUpload(uploadID)
            let writer = try await storage.uploadWriter(uploadID, at: 0)
            let digest: Digest
            let size: Int64
            do {
                (digest, size) = try await streamLogs(job, into: writer)
            } catch {
                await writer.cancel()
                throw error
            }
            // A deletion of identical bytes in progress finishes before these are published.
            try await services.tombstones.hold(digest.description)
            try await storage.commitUpload(uploadID, as: digest)
            logger.info("exported usage logs", metadata: ["export.id": "\(job.uuid)", "bytes": "\(size)"])
            return try await finish(job, result: .success, digest: digest, size: size, error: nil)
        } catch is LogsTimedOut {
            try? await storage.deleteUpload(uploadID)
            return try await finish(job, result: .timedout, digest: nil, size: nil,
                                    error: "writing the export took longer than \(settings.maximumWorkSeconds) s")
        } catch {
            try? await storage.deleteUpload(uploadID)
            // Shutting down is not the export's fault: the runner gives the job back untried.
            if Task.isCancelled { throw CancellationError() }
            let attempts = job.exportAttempts + 1
            let message = "writing the export failed: \(String(describing: error).prefix(300))"
            logger.error("log export failed", metadata: ["export.id": "\(job.uuid)", "attempt": "\(attempts)", "error": "\(error)"])
            if attempts >= settings.maxExportAttempts || queued.isLastAttempt {
                return try await finish(job, result: .failed, digest: nil, size: nil, error: message)
            }
            let retryAt = now + Self.backoffMillis(attempt: attempts, base: settings.callbackBackoff)
            return .retry(message, at: retryAt, record: { db in
                try await MetadataStore.retryLogExportData(on: db, id: job.id, error: message, retryAt: retryAt)
            })
        }
    }

    /// How writing ended: recorded (with the mail to `callback_email`, if any, and the callback's
    /// job) in the transaction that completes the `write` job.
    func finish(_ job: MetadataStore.LogExport, result: MetadataStore.LogExportResult, digest: Digest?, size: Int64?,
                error: String?) async throws -> JobOutcome {
        let email = try await completionMail(job, result: result)
        // Recorded (and the mail queued) at the wall clock's time, as the API shows it.
        let (secretBox, jobs, finishedAt) = (services.secretBox, services.jobs, Clock.nowMillis())
        return .completed(record: { db in
            try await MetadataStore.finishLogExportData(on: db, job, result: result, digest: digest, size: size, error: error, email: email,
                                                        secretBox: secretBox, jobs: jobs, now: finishedAt)
        })
    }

    /// The mail to `callback_email`: the download link (valid `logs.exportLinkSeconds` from now,
    /// as the callback's) or, when there is no file, that the export failed. Internal error
    /// details stay in the log; the mail says what the requester can act on.
    func completionMail(_ job: MetadataStore.LogExport, result: MetadataStore.LogExportResult) async throws -> OutgoingMail? {
        guard let address = job.callbackEmail else { return nil }
        let scope = job.repositoryName.map { "\(job.namespaceName)/\($0)" } ?? job.namespaceName
        let range = "\(Self.day(job.start)) to \(Self.day(job.end - 86_400_000))"
        let subject: String
        let body: String
        if result == .success {
            let expiresAt = Clock.nowMillis() / 1000 + Int64(services.config.logs.exportLinkSeconds)
            let link = try await links.url(origin: job.origin, exportID: job.uuid, expiresAt: expiresAt)
            subject = "Usage logs of \(scope) are ready"
            body = """
                The usage logs of \(scope) for \(range) that you asked for are ready.

                Download them (JSON) from this link:

                \(link)

                The link works until \(APIDates.rfc2822(millis: expiresAt * 1000)).
                Export id: \(job.uuid)
                """
        } else {
            let reason: String
            switch result {
            case .timedout: reason = "writing it took longer than the time allowed"
            case .invalidrequest: reason = "the requested time range is not valid"
            default: reason = "an error occurred while writing it"
            }
            subject = "Usage log export of \(scope) failed"
            body = """
                The export of the usage logs of \(scope) for \(range) did not complete: \(reason).

                Request a new export to try again.
                Export id: \(job.uuid)
                """
        }
        return OutgoingMail(recipient: address, subject: subject, body: body, kind: OutgoingMail.Kind.logExport, reference: job.uuid)
    }

    /// Writes the document chunk by chunk, hashing as it goes. Holds one page of entries at a time.
    func streamLogs(_ job: MetadataStore.LogExport, into writer: any BlobUploadWriter) async throws -> (Digest, Int64) {
        var digester = StreamingDigester()
        func emit(_ bytes: [UInt8]) async throws {
            bytes.withUnsafeBytes { digester.update($0) }
            try await writer.write(ByteBuffer(bytes: bytes))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let details = ExportDetails(start_time: APIDates.rfc2822(millis: job.start), end_time: APIDates.rfc2822(millis: job.end),
                                    namespace: job.namespaceName, repository: job.repositoryName)
        try await emit(Array(#"{"export_id":"#.utf8) + Array(try encoder.encode(job.uuid)) + Array(#","details":"#.utf8)
                       + Array(try encoder.encode(details)) + Array(#","logs":["#.utf8))
        let began = Clock.nowMillis()
        var cursor: (Int64, Int64)?
        var first = true
        while true {
            let page = try await services.store.usageLogs(scope: job.scope, start: job.start, end: job.end, performer: nil,
                                                          before: cursor, limit: settings.pageSize)
            if !page.isEmpty {
                var chunk: [UInt8] = []
                for entry in page {
                    if !first { chunk.append(UInt8(ascii: ",")) }
                    first = false
                    chunk += try encoder.encode(Self.view(entry))
                }
                try await emit(chunk)
            }
            guard page.count == settings.pageSize, let last = page.last else { break }
            cursor = (last.createdAt, last.id)
            if Clock.nowMillis() - began > settings.maximumWorkSeconds * 1000 { throw LogsTimedOut() }
        }
        try await emit(Array("]}".utf8))
        let size = try await writer.commit()
        return (digester.finalize(.sha256)!, size)
    }

    struct ExportDetails: Encodable {
        let start_time: String
        let end_time: String
        let namespace: String
        let repository: String?

        func encode(to encoder: any Encoder) throws {
            // Quay writes `"repository": null` for namespace-wide exports.
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(start_time, forKey: .start_time)
            try c.encode(end_time, forKey: .end_time)
            try c.encode(namespace, forKey: .namespace)
            try c.encode(repository, forKey: .repository)
        }

        enum CodingKeys: String, CodingKey { case start_time, end_time, namespace, repository }
    }

    /// The entry shape of `GET .../logs`.
    static func view(_ e: MetadataStore.LogEntry) -> LogsAPI.LogView {
        LogsAPI.LogView(kind: e.kind, metadata: e.metadata, ip: e.ip, datetime: APIDates.rfc2822(millis: e.createdAt),
                        performer: e.performerName.map { .init(kind: e.performerKind == "robot" ? "user" : (e.performerKind ?? "user"), name: $0,
                                                               is_robot: e.performerKind == "robot", avatar: ["name": $0]) },
                        namespace: e.namespaceName.map { ["kind": "org", "name": $0] })
    }

    // MARK: The callback

    struct CallbackBody: Encodable {
        let export_id: String
        let start_time: String
        let end_time: String
        let namespace: String
        let repository: String?
        let exported_data_url: String?
        let status: String

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(export_id, forKey: .export_id)
            try c.encode(start_time, forKey: .start_time)
            try c.encode(end_time, forKey: .end_time)
            try c.encode(namespace, forKey: .namespace)
            try c.encode(repository, forKey: .repository)
            try c.encode(exported_data_url, forKey: .exported_data_url)
            try c.encode(status, forKey: .status)
        }

        enum CodingKeys: String, CodingKey { case export_id, start_time, end_time, namespace, repository, exported_data_url, status }
    }

    func deliverCallback(_ job: MetadataStore.LogExport, job queued: QueuedJob) async throws -> JobOutcome {
        guard let url = job.callbackURL else { return .skipped("the export has no callback") }
        let result = job.result ?? .failed
        var link: String?
        if result == .success {
            link = try await links.url(origin: job.origin, exportID: job.uuid,
                                       expiresAt: Clock.nowMillis() / 1000 + Int64(services.config.logs.exportLinkSeconds))
        }
        // Like Quay, the callback names the requested days as MM/DD/YYYY; `end` is exclusive.
        let body = CallbackBody(export_id: job.uuid, start_time: Self.day(job.start), end_time: Self.day(job.end - 86_400_000),
                                namespace: job.namespaceName, repository: job.repositoryName, exported_data_url: link, status: result.rawValue)
        let attempt = job.callbackAttempts + 1
        let meta: Logger.Metadata = ["export.id": "\(job.uuid)", "attempt": "\(attempt)"]
        let outcome: MetadataStore.CallbackOutcome
        do {
            let status = try await client.send(to: url, body: V2Handler.encodeJSON(body)).status
            if (200..<300).contains(status) {
                outcome = .delivered
            } else {
                outcome = nextStep(attempt: attempt, job: queued, error: "the callback answered \(status)")
            }
        } catch .refused(let why) {
            // The name now resolves somewhere forbidden (or config changed): never retried.
            outcome = .gaveUp(callbackStatus: "refused", error: "callback URL refused: \(why)")
        } catch {
            if Task.isCancelled { throw CancellationError() }  // shutting down: given back, not counted
            outcome = nextStep(attempt: attempt, job: queued, error: "callback \(error)")  // "callback timed out", "callback connection failed: …"
        }
        let finishedAt = Clock.nowMillis()
        let record: JobTransactionBody = { db in
            try await MetadataStore.recordLogExportCallback(on: db, id: job.id, outcome: outcome, now: finishedAt)
        }
        switch outcome {
        case .delivered:
            logger.info("delivered log export callback", metadata: meta)
            return .completed(record: record)
        case .retry(let at, let error):
            logger.warning("log export callback failed; will retry", metadata: meta.merging(["error": "\(error)"]) { $1 })
            return .retry(error, at: at, record: record)
        case .gaveUp(_, let error):
            logger.error("log export callback abandoned", metadata: meta.merging(["error": "\(error)"]) { $1 })
            return .failed(error, record: record)
        }
    }

    func nextStep(attempt: Int, job: QueuedJob, error: String) -> MetadataStore.CallbackOutcome {
        guard attempt < settings.maxCallbackAttempts, !job.isLastAttempt else { return .gaveUp(callbackStatus: "failed", error: error) }
        return .retry(at: now + Self.backoffMillis(attempt: attempt, base: settings.callbackBackoff), error: error)
    }

    /// `base * 2^(attempt-1)`, capped at one hour.
    static func backoffMillis(attempt: Int, base: Duration) -> Int64 {
        let baseMillis = base.components.seconds * 1000 + base.components.attoseconds / 1_000_000_000_000_000
        let factor = Int64(1) << Int64(min(max(attempt - 1, 0), 20))
        return min(baseMillis * factor, 3_600_000)
    }

    static let dayFormat: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "MM/dd/yyyy"
        return f
    }()
    private static let dayLock = NSLock()

    static func day(_ millis: Int64) -> String {
        dayLock.withLock { dayFormat.string(from: Date(timeIntervalSince1970: Double(millis) / 1000)) }
    }

    // MARK: Retention

    /// Deletes usage logs (and finished exports, whose files the collector then removes) older
    /// than `logs.retentionDays`; 0 keeps them.
    func applyRetention(now: Int64 = Clock.nowMillis()) async throws {
        let days = services.config.logs.retentionDays
        guard days > 0 else { return }
        let cutoff = now - Int64(days) * 86_400_000
        let deleted = try await services.store.deleteUsageLogs(before: cutoff)
        // The export files go with the collector's next byte deletion pass.
        let exports = try await services.store.deleteLogExports(before: cutoff, tombstones: services.tombstones, now: now)
        _ = try await services.jobs.prune(queue: LogExportJob.queue, finishedBefore: cutoff)
        if deleted > 0 || exports > 0 {
            logger.info("applied usage-log retention", metadata: ["deleted": "\(deleted)", "exports": "\(exports)", "days": "\(days)"])
        }
    }
}
