import Accounts
import Foundation
import Logging
import Mail
import Metrics
import OutboundHTTP
import Registry
import ServiceLifecycle
import SlipwayCore
import Synchronization

/// Delivers repository notifications, durably.
///
/// Each pass (`runOnce`):
/// 1. fans new `repository_events` rows out into `notification_deliveries`, one per matching,
///    unpaused notification (build events filtered by `eventConfig.ref-regex`), each with its
///    `DeliveryJob` on the job queue,
/// 2. every `expiryScanInterval`, queues `repo_image_expiry` deliveries for tags expiring within
///    each notification's `eventConfig.days` (once per tag expiry, not per scan), and prunes
///    old finished deliveries,
/// 3. sends every due delivery through a `JobQueueRunner` over the `notification-delivery`
///    queue: `concurrency` at a time, at most one per notification at once (the job's ordering
///    key, so a notification's events arrive in order and a slow receiver holds one slot only),
///    starting them in event order (`orderingWait`), so a repository's events reach receivers
///    in the order they happened.
///
/// As a service it runs passes back to back, each when a delivery is pushed (the driver's
/// wake-up: a test delivery or verification mail goes out at once), a retry falls due, or
/// `pollInterval` has passed (new events to fan out).
///
/// A failed attempt is retried after `retryBase · 2^(n-1)` (capped at `retryCap`) until
/// `notifications.maxAttempts`; then the delivery fails and the notification's
/// `number_of_failures` goes up (a delivered event resets it). At `maxFailures` (3, as Quay) the
/// notification receives no new events until reset. The delivery row and the notification are
/// updated in the transaction that ends the job's claim, so a restart or a second replica
/// carries on where this one stopped, without double sends.
public final class NotificationDispatcher: Service, Sendable {
    public struct Settings: Sendable {
        /// How often the events outbox is fanned out (and the expiry scan considered) when no
        /// pushed delivery or due retry started a pass sooner.
        public var pollInterval: Duration = .seconds(1)
        public var expiryScanInterval: Duration = .seconds(60)
        /// Delay before retry n is `retryBase * 2^(n-1)`, at most `retryCap`.
        public var retryBase: Duration = .seconds(2)
        public var retryCap: Duration = .seconds(300)
        public var maxAttempts = 5
        /// At this many consecutive failed deliveries a notification is paused until reset.
        public var maxFailures = 3
        /// Deliveries in flight at once (each to a different notification).
        public var concurrency = 8
        /// Per-attempt time limit (connect, TLS, request, response).
        public var timeout: Duration = .seconds(10)
        /// Claimed deliveries are started in event order, each once the previous one's request has
        /// gone out or this much time has passed: receivers see events in order, and a receiver
        /// that does not accept connections holds the others up this long at most.
        public var orderingWait: Duration = .seconds(1)
        /// Finished deliveries are kept this long (diagnostics), then deleted.
        public var historyMillis: Int64 = 7 * 86_400_000
        /// Outbox events fanned out per transaction.
        public var fanOutBatch = 200
        /// How far behind the newest fanned-out event the outbox is re-scanned, for events whose
        /// transaction committed late.
        public var lookbackMillis: Int64 = 120_000
        public init() {}

        public init(config: SlipwayConfig.Notifications) {
            self.init()
            maxAttempts = max(1, config.maxAttempts)
            timeout = .seconds(config.deliveryTimeoutSeconds)
            pollInterval = .seconds(max(1, config.dispatchIntervalSeconds))
        }
    }

    let services: RegistryServices
    let store: NotificationStore
    public let settings: Settings
    /// Sends the deliveries (queue `notification-delivery`) with `sender`.
    let runner: JobQueueRunner
    let sender: NotificationSender
    private let lastExpiryScan = Mutex<ContinuousClock.Instant?>(nil)

    public init(services: RegistryServices, store: NotificationStore, settings: Settings? = nil) {
        self.services = services
        self.store = store
        let settings = settings ?? Settings(config: services.config.notifications)
        self.settings = settings
        let tls = OutboundTLS(notifications: services.config.notifications)
        let allowPrivate = services.config.notifications.allowPrivateTargets || services.config.security.allowPrivateTargets
        let sender = NotificationSender(
            services: services, store: store, settings: settings,
            webhooks: OutboundHTTPClient(.init(allowPrivateTargets: allowPrivate, timeout: settings.timeout, tls: tls)),
            mail: SMTPClient(config: services.config.notifications, tls: tls, timeout: settings.timeout))
        self.sender = sender
        var runnerSettings = JobQueueRunner.Settings()
        runnerSettings.concurrency = settings.concurrency
        runnerSettings.visibilityTimeout = settings.timeout * 3 + .seconds(30)
        runnerSettings.orderedStart = settings.orderingWait
        // Retries are timed by the sender (`retryOrFail`); this only paces a job whose handler throws.
        runnerSettings.backoff = RetryBackoff(base: settings.retryBase, cap: settings.retryCap, maxAttempts: .max)
        let jobs = services.jobs
        runnerSettings.recordAbandoned = { job, error in
            guard let payload = try? job.decodePayload(DeliveryJob.self) else { return nil }
            let now = jobs.clock.now()
            return { db in try await NotificationStore.recordAbandoned(deliveryID: payload.delivery, error: error, now: now, on: db) }
        }
        self.runner = JobQueueRunner(queue: DeliveryJob.queue, driver: services.jobs, settings: runnerSettings, logger: services.logger,
                                     progressHandler: { job, underway in try await sender.deliver(job, underway: underway) })
        if case .failure(let error) = tls.context {
            services.logger.error("notification tls configuration is invalid", metadata: ["error": "\(error)"])
        }
    }

    var logger: Logger { services.logger }
    var now: Int64 { services.jobs.clock.now() }

    /// Passes, one after the other, each when something may be due: a pushed delivery (the
    /// driver's wake-up, also from other replicas), a retry's time, or `pollInterval` (new
    /// events to fan out). A pass ends only when its deliveries have, so one pass's events reach
    /// receivers before the next pass's, whatever notification they belong to.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var wakeUps = self.services.jobs.wakeUps(queue: DeliveryJob.queue, fallbackPoll: self.settings.pollInterval).makeAsyncIterator()
            while await wakeUps.next() != nil {
                await self.runOnce()
            }
        }
    }

    public struct PassResult: Sendable, Equatable {
        public var events = 0
        public var expiryNotices = 0
        public var attempts = 0
    }

    /// One pass: fan-out, expiry scan (when due, or always with `forceExpiryScan`), deliveries.
    /// Tests call it directly (and move the job queue's clock to move time forward).
    @discardableResult
    public func runOnce(forceExpiryScan: Bool = false) async -> PassResult {
        var result = await fanOutAndScan(forceExpiryScan: forceExpiryScan)
        result.attempts = await runner.runOnce()
        return result
    }

    /// Fans out new events and, when due, runs the expiry scan and prunes history.
    @discardableResult
    func fanOutAndScan(forceExpiryScan: Bool = false) async -> PassResult {
        var result = PassResult()
        do {
            while true {
                let n = try await store.fanOutEvents(batch: settings.fanOutBatch, lookbackMillis: lookbackMillis,
                                                     maxFailures: settings.maxFailures, now: now, accept: Self.accepts)
                result.events += n
                if n < settings.fanOutBatch { break }
            }
        } catch {
            logger.error("notification fan-out failed", metadata: ["error": "\(String(reflecting: error))"])
        }
        let scanDue = lastExpiryScan.withLock { last in
            guard forceExpiryScan || last.map({ ContinuousClock.now - $0 >= settings.expiryScanInterval }) ?? true else { return false }
            last = .now
            return true
        }
        if scanDue {
            do {
                result.expiryNotices = try await store.queueExpiryNotices(now: now, maxFailures: settings.maxFailures, baseURL: baseURL)
                try await store.pruneNotificationHistory(now: now, keepMillis: settings.historyMillis)
            } catch {
                logger.error("notification expiry scan failed", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
        return result
    }

    /// How far behind the watermark to look for events not fanned out yet. Replicas sharing a
    /// PostgreSQL database commit events out of `created_at` order (clock skew, long
    /// transactions), so they need the full window; SQLite has one writer that stamps events
    /// inside its write lock, so a second covers clock jitter, and each pass scans only the
    /// newest events instead of the whole window (which made heavy pushes wait on the lock).
    var lookbackMillis: Int64 {
        store.flavor == .postgres ? settings.lookbackMillis : min(settings.lookbackMillis, 1000)
    }

    /// `server.publicURL`, else the configured host and port (as the build events use).
    var baseURL: String {
        let configured = services.config.server.publicURL
        if !configured.isEmpty { return configured.hasSuffix("/") ? String(configured.dropLast()) : configured }
        return "http://\(services.config.server.host):\(services.config.server.port)"
    }

    /// Whether a notification with `eventConfig` wants this event (Quay's `should_perform`).
    /// Build events with a `ref-regex` fire only when it matches the start of
    /// `trigger_metadata.ref`; builds without a ref (uploads) never match.
    static func accepts(_ kind: String, _ payload: [String: EventValue], _ eventConfig: [String: EventValue]) -> Bool {
        if kind == "vulnerability_found" {
            return VulnerabilityLevel.accepts(priority: payload["vulnerability"]?["priority"]?.stringValue, level: eventConfig["level"])
        }
        guard NotificationCatalog.buildEvents.contains(kind), case .string(let pattern)? = eventConfig["ref-regex"], !pattern.isEmpty else {
            return true
        }
        guard let ref = payload["trigger_metadata"]?["ref"]?.stringValue else { return false }
        guard let regex = try? Regex(pattern) else { return false }
        return (try? regex.prefixMatch(in: ref)) != nil
    }

    // MARK: E-mail verification

    static let verificationEvent = "email_authorization"
    static let linkContext = "notification-email-confirmation"

    /// Starts verification of `email` for `repository` (unless confirmed already) and queues the
    /// mail with the confirmation link `<base>/authrepoemail?code=…`.
    public func requestEmailAuthorization(repository: Repository, email: String, baseURL: String) async throws {
        let code = APITokens.generate()
        guard try await store.startEmailAuthorization(repositoryID: repository.id, email: email, code: code) else { return }
        let base = services.config.server.publicURL.isEmpty ? baseURL : services.config.server.publicURL
        let link = "\(base.hasSuffix("/") ? String(base.dropLast()) : base)/authrepoemail?code=\(code)"
        try await store.queueDelivery(notificationID: nil, event: Self.verificationEvent, payload: [
            "email": .string(email), "repository": .string(repository.path.description),
            "link": .string(try services.secretBox.seal(link, context: Self.linkContext)),
        ], isTest: false)
    }
}
