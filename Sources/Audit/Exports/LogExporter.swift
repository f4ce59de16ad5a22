import Logging
import OutboundHTTP
import ServiceLifecycle
import SlipwayCore

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

    /// `log` is flushed before an export is written, so it holds what was just recorded;
    /// `config` gives the retention (`logs.retentionDays`), the download links' lifetime
    /// (`logs.exportLinkSeconds`) and whether callbacks may reach private addresses.
    public init(store: AuditStore, log: AuditLog, storage: any BlobStorageDriver, tombstones: BlobTombstones, secretBox: SecretBox,
                config: SlipwayConfig, logger: Logger, settings: Settings = Settings()) {
        let stages = LogExportStages(
            store: store, log: log, storage: storage, tombstones: tombstones, secretBox: secretBox, config: config, logger: logger,
            settings: settings, links: LogExportLinks(keys: InstanceKeys(database: store.database)),
            client: OutboundHTTPClient(.init(allowPrivateTargets: config.security.allowPrivateTargets, timeout: .seconds(10))))
        self.stages = stages
        var runnerSettings = JobQueueRunner.Settings()
        runnerSettings.concurrency = max(1, settings.concurrency)
        runnerSettings.visibilityTimeout = .seconds(settings.leaseSeconds)
        runnerSettings.fallbackPoll = settings.fallbackPoll
        runnerSettings.backoff = RetryBackoff(base: settings.callbackBackoff, cap: .seconds(3600), maxAttempts: .max)
        runnerSettings.recordAbandoned = { job, error in
            guard let payload = try? job.decodePayload(LogExportJob.self) else { return nil }
            let now = Clock.nowMillis()
            return { db in try await AuditStore.recordAbandonedLogExport(id: payload.export, stage: payload.stage, error: error, now: now, on: db) }
        }
        self.runner = JobQueueRunner(queue: LogExportJob.queue, driver: store.jobs, settings: runnerSettings, logger: logger) { job in
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
