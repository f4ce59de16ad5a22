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
/// Where scans run: one `scan` job queue, two kinds of consumers. `slipway serve` processes
/// run `security.scanConcurrency` scans each (0: none); `slipway worker --roles scan` processes
/// lease scans over HTTP (`ScanWorkerEndpoints`), read the layers the layer index lacks from
/// the server, and hand their contents back; the server matches and stores the report with
/// the same code as its own scans. Both claim from the same queue, oldest first, so replicas
/// and workers share the work; a consumer that dies loses its claim when the visibility timeout
/// runs out and another takes the job. Re-matching reads no layers and runs on every replica
/// (`scanConcurrency: 0` included; `rematchCheckSeconds: 0` keeps a replica out of it), so a
/// cluster that leaves scans to workers still re-matches.
public struct ScanServiceModule: SlipwayModule {
    let services: RegistryServices
    public let store: ScanStore
    public let metrics: ScanMetrics
    let scanner: ManifestScanner
    let indexer: LayerIndexer
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
        self.indexer = LayerIndexer(store: store, source: layers ?? BlobLayerSource(storage: services.storage), metrics: metrics)
        self.scanner = ManifestScanner(store: store, registry: services.store, vulnerabilities: vulnerabilities,
                                       metrics: metrics, logger: services.logger)
        self.rematcher = Rematcher(database: services.database, store: store, vulnerabilities: vulnerabilities, events: services.events,
                                   metrics: metrics, baseURL: Self.baseURL(services.config), logger: services.logger)
        self.trigger = RematchTrigger(database: services.database, store: store, vulnerabilities: vulnerabilities, jobs: services.jobs,
                                      metrics: metrics, interval: .seconds(max(1, services.config.security.rematchCheckSeconds)), logger: services.logger)
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

    /// The scan side of the worker protocol, on every replica (whatever its `scanConcurrency`).
    public func registerRoutes(_ router: Router<SlipwayRequestContext>) {
        ScanWorkerEndpoints(services: services, scanner: scanner, indexer: indexer, runner: scanRunner(),
                            workerToken: services.config.builds.workerToken).register(router)
    }

    public func observedRoutes() -> [ObservedRoute] { ScanWorkerEndpoints.observedRoutes }

    /// The `scan` runner unless this process leaves scans to other replicas and workers
    /// (`security.scanConcurrency: 0`), and the `scan-rematch` runner and the data-change
    /// trigger unless it leaves re-matching to other replicas (`security.rematchCheckSeconds: 0`).
    public func backgroundServices() -> [any Service] {
        var running: [any Service] = []
        if services.config.security.scanConcurrency > 0 { running.append(scanRunner()) }
        if services.config.security.rematchCheckSeconds > 0 { running += [rematchRunner(), trigger] }
        return running
    }

    /// The runner of `scan` jobs (tests drive it with `runOnce()`). The worker endpoints claim
    /// and settle through one too, so a worker's scan has the same lease and retries.
    public func scanRunner() -> JobQueueRunner {
        var settings = JobQueueRunner.Settings()
        settings.concurrency = max(1, services.config.security.scanConcurrency)
        // A large layer takes a while; the lease is renewed while it is read (by the runner
        // here, by a worker's heartbeats there).
        settings.visibilityTimeout = .seconds(300)
        settings.backoff = RetryBackoff(base: .seconds(5), cap: .seconds(600), maxAttempts: 5)
        // Out of attempts (storage kept failing, or the worker died holding the job), the
        // manifest is marked failed with the job, never left `queued`.
        settings.recordAbandoned = { job, error in ManifestScanner.recordFailure(of: job, error) }
        let (scanner, indexer) = (self.scanner, self.indexer)
        return JobQueueRunner(queue: ScanQueues.scan, driver: services.jobs, settings: settings, logger: services.logger) { job in
            try await scanner.attempt(job) { try await indexer.record(of: $0) }
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
