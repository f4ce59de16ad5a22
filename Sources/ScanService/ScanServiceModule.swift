import Hummingbird
import Logging
import Registry
import Scanner
import ServiceLifecycle
import SlipwayCore

/// The scan pipeline as a server module: every stored manifest is queued for a scan in the
/// storing transaction; in-process scan workers (`security.scanConcurrency`) index layers once
/// per digest and match them; changed vulnerability data re-matches every scanned manifest from
/// its stored package list and announces new findings as `vulnerability_found` events; Quay's
/// security endpoint reads the results.
///
/// Where scans run: in `slipway serve` processes. Replicas share the database and its job
/// queue, so scanning scales with the replicas (and `security.scanConcurrency: 0` keeps a
/// replica out of it). `slipway worker` stays a build worker: it talks to the orchestrator over
/// HTTP and has no database, which scanning needs for its layer index and reports.
public struct ScanServiceModule: SlipwayModule {
    let services: RegistryServices
    public let store: ScanStore
    public let metrics: ScanMetrics
    let scanner: ManifestScanner
    let rematcher: Rematcher
    let trigger: RematchTrigger

    /// `layers` is where layer contents come from: the blob storage by default; tests count reads.
    public init(services: RegistryServices, layers: (any LayerSource)? = nil) {
        self.services = services
        let store = ScanStore(database: services.database)
        let metrics = ScanMetrics()
        let vulnerabilities = VulnerabilityStore(database: services.database)
        self.store = store
        self.metrics = metrics
        let indexer = LayerIndexer(store: store, source: layers ?? BlobLayerSource(storage: services.storage), metrics: metrics)
        self.scanner = ManifestScanner(store: store, registry: services.store, vulnerabilities: vulnerabilities, layers: indexer,
                                       metrics: metrics, logger: services.logger)
        self.rematcher = Rematcher(database: services.database, store: store, vulnerabilities: vulnerabilities, events: services.events,
                                   metrics: metrics, baseURL: Self.baseURL(services.config), logger: services.logger)
        self.trigger = RematchTrigger(database: services.database, store: store, vulnerabilities: vulnerabilities, jobs: services.jobs,
                                      metrics: metrics, interval: .seconds(services.config.security.rematchCheckSeconds), logger: services.logger)
    }

    static func baseURL(_ config: SlipwayConfig) -> String {
        let configured = config.server.publicURL
        if !configured.isEmpty { return configured.hasSuffix("/") ? String(configured.dropLast()) : configured }
        return "http://\(config.server.host):\(config.server.port)"
    }

    public func manifestStoredObservers() -> [any ManifestStoredObserver] { [ScanOnPush(jobs: services.jobs)] }

    public func registerAPI(_ api: APIRoutes) {
        SecurityAPI(services: services, store: store).register(api)
    }

    /// The `scan` and `scan-rematch` runners and the data-change trigger, unless this process
    /// does not scan (`security.scanConcurrency: 0`).
    public func backgroundServices() -> [any Service] {
        guard services.config.security.scanConcurrency > 0 else { return [] }
        return [scanRunner(), rematchRunner(), trigger]
    }

    /// The runner of `scan` jobs (tests drive it with `runOnce()`).
    public func scanRunner() -> JobQueueRunner {
        var settings = JobQueueRunner.Settings()
        settings.concurrency = max(1, services.config.security.scanConcurrency)
        // A large layer takes a while; the lease is renewed while it is read.
        settings.visibilityTimeout = .seconds(300)
        settings.backoff = RetryBackoff(base: .seconds(5), cap: .seconds(600), maxAttempts: 5)
        // Out of attempts (storage kept failing, or the worker died holding the job), the
        // manifest is marked failed with the job, never left `queued`.
        settings.recordAbandoned = { job, error in ManifestScanner.recordFailure(of: job, error) }
        let scanner = self.scanner
        return JobQueueRunner(queue: ScanQueues.scan, driver: services.jobs, settings: settings, logger: services.logger) { job in
            do {
                return try await scanner.handle(job)
            } catch {
                guard job.isLastAttempt, let record = ManifestScanner.recordFailure(of: job, "\(error)") else { throw error }
                return .failed("\(error)", record: record)
            }
        }
    }

    /// The runner of `scan-rematch` jobs, one at a time (tests drive it with `runOnce()`).
    public func rematchRunner() -> JobQueueRunner {
        var settings = JobQueueRunner.Settings()
        settings.concurrency = 1
        settings.visibilityTimeout = .seconds(600)
        let rematcher = self.rematcher
        return JobQueueRunner(queue: ScanQueues.rematch, driver: services.jobs, settings: settings, logger: services.logger) { job in
            try await rematcher.handle(job)
        }
    }

    /// Queues a re-match if vulnerability data changed since the last one (what the background
    /// trigger does every `security.rematchCheckSeconds`). True when one was queued.
    @discardableResult
    public func checkForDataChange() async -> Bool { await trigger.check() }
}
