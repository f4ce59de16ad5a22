import Crypto
import Foundation
import Logging
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
///    unpaused notification (build events filtered by `eventConfig.ref-regex`),
/// 2. every `expiryScanInterval`, queues `repo_image_expiry` deliveries for tags expiring within
///    each notification's `eventConfig.days` (once per tag expiry, not per scan), and prunes
///    old finished deliveries,
/// 3. sends every due delivery, `concurrency` at a time, at most one per notification at once
///    (so a notification's events arrive in order and a slow receiver holds one slot only),
///    starting them in event order (`orderingWait`), so a repository's events reach receivers
///    in the order they happened.
///
/// A failed attempt is retried after `retryBase · 2^(n-1)` (capped at `retryCap`) until
/// `notifications.maxAttempts`; then the delivery fails and the notification's
/// `number_of_failures` goes up (a delivered event resets it). At `maxFailures` (3, as Quay) the
/// notification receives no new events until reset. Claims are leases in the database, so a
/// restart or a second replica carries on where this one stopped, without double sends on
/// PostgreSQL (`FOR UPDATE SKIP LOCKED`).
public final class NotificationDispatcher: Service, Sendable {
    public struct Settings: Sendable {
        /// How often the outbox and queue are checked when nothing rang the bell.
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
            maxAttempts = config.maxAttempts
            timeout = .seconds(config.deliveryTimeoutSeconds)
            pollInterval = .seconds(max(1, config.dispatchIntervalSeconds))
        }
    }

    let services: RegistryServices
    let store: NotificationStore
    public let settings: Settings
    let webhooks: OutboundHTTPClient
    let mail: SMTPClient
    private let bell = Atomic<Bool>(false)
    private let lastExpiryScan = Mutex<ContinuousClock.Instant?>(nil)
    private let outcomes = (delivered: Counter(label: "slipway_notification_deliveries_total", dimensions: [("outcome", "delivered")]),
                            retried: Counter(label: "slipway_notification_deliveries_total", dimensions: [("outcome", "retried")]),
                            failed: Counter(label: "slipway_notification_deliveries_total", dimensions: [("outcome", "failed")]),
                            skipped: Counter(label: "slipway_notification_deliveries_total", dimensions: [("outcome", "skipped")]))

    public init(services: RegistryServices, store: NotificationStore, settings: Settings? = nil) {
        self.services = services
        self.store = store
        let settings = settings ?? Settings(config: services.config.notifications)
        self.settings = settings
        let tls = OutboundTLS(notifications: services.config.notifications)
        let allowPrivate = services.config.notifications.allowPrivateTargets || services.config.security.allowPrivateTargets
        self.webhooks = OutboundHTTPClient(.init(allowPrivateTargets: allowPrivate, timeout: settings.timeout, tls: tls))
        self.mail = SMTPClient(config: services.config.notifications, tls: tls, timeout: settings.timeout)
        if case .failure(let error) = tls.context {
            services.logger.error("notification tls configuration is invalid", metadata: ["error": "\(error)"])
        }
    }

    var logger: Logger { services.logger }

    /// Asks the service to run a pass now rather than at the next poll.
    public func wake() { bell.store(true, ordering: .relaxed) }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.runOnce()
                // Wait for the bell or the poll interval, whichever comes first.
                let start = ContinuousClock.now
                while !Task.isCancelled, ContinuousClock.now - start < self.settings.pollInterval,
                      !self.bell.exchange(false, ordering: .relaxed) {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
        }
    }

    public struct PassResult: Sendable, Equatable {
        public var events = 0
        public var expiryNotices = 0
        public var attempts = 0
    }

    /// One pass: fan-out, expiry scan (when due, or always with `forceExpiryScan`), deliveries.
    /// The service calls it every poll; tests call it directly, with `now` to move time forward.
    @discardableResult
    public func runOnce(now fixed: Int64? = nil, forceExpiryScan: Bool = false) async -> PassResult {
        let now: @Sendable () -> Int64 = { fixed ?? Clock.nowMillis() }
        var result = PassResult()
        do {
            while true {
                let n = try await store.fanOutEvents(batch: settings.fanOutBatch, lookbackMillis: lookbackMillis,
                                                     maxFailures: settings.maxFailures, now: now(), accept: Self.accepts)
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
                result.expiryNotices = try await store.queueExpiryNotices(now: now(), maxFailures: settings.maxFailures, baseURL: baseURL)
                try await store.pruneNotificationHistory(now: now(), keepMillis: settings.historyMillis)
            } catch {
                logger.error("notification expiry scan failed", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
        result.attempts = await drainDeliveries(now: now)
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
        guard NotificationCatalog.buildEvents.contains(kind), case .string(let pattern)? = eventConfig["ref-regex"], !pattern.isEmpty else {
            return true
        }
        guard let ref = payload["trigger_metadata"]?["ref"]?.stringValue else { return false }
        guard let regex = try? Regex(pattern) else { return false }
        return (try? regex.prefixMatch(in: ref)) != nil
    }

    // MARK: Deliveries

    /// Sends due deliveries until none is left, keeping up to `concurrency` in flight.
    func drainDeliveries(now: @escaping @Sendable () -> Int64) async -> Int {
        do {
            guard try await store.hasDueDeliveries(now: now()) else { return 0 }
        } catch {
            logger.error("notification queue unavailable", metadata: ["error": "\(error)"])
            return 0
        }
        let leaseMillis = Int64(settings.timeout.components.seconds) * 3000 + 30_000
        return await withTaskGroup(of: Void.self) { group in
            var inFlight = 0
            var attempts = 0
            while !Task.isCancelled {
                if inFlight < settings.concurrency {
                    let claimed: [NotificationDelivery]
                    do {
                        claimed = try await store.claimDeliveries(token: UUID().uuidString, limit: settings.concurrency - inFlight,
                                                                  leaseMillis: leaseMillis, now: now())
                    } catch {
                        logger.error("notification claim failed", metadata: ["error": "\(error)"])
                        claimed = []
                    }
                    if !claimed.isEmpty {
                        for delivery in claimed {
                            inFlight += 1
                            let (sent, signal) = AsyncStream<Void>.makeStream()
                            group.addTask {
                                await self.process(delivery, now: now) { signal.finish() }
                                signal.finish()
                            }
                            await Self.wait(for: sent, atMost: settings.orderingWait)
                        }
                        continue
                    }
                }
                guard inFlight > 0 else { break }
                await group.next()
                inFlight -= 1
                attempts += 1
            }
            return attempts
        }
    }

    /// Returns when `stream` finishes or `limit` has passed.
    static func wait(for stream: AsyncStream<Void>, atMost limit: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for await _ in stream {} }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll()
        }
    }

    /// One attempt and its bookkeeping; `sent` is called once the request is on the wire.
    func process(_ delivery: NotificationDelivery, now: @Sendable () -> Int64, sent: @escaping @Sendable () -> Void = {}) async {
        guard let token = delivery.claimToken else { return }
        var meta: Logger.Metadata = ["delivery": "\(delivery.uuid)", "event": "\(delivery.event)"]
        let outcome: NotificationStore.DeliveryOutcome
        do {
            outcome = try await attempt(delivery, now: now, sent: sent)
        } catch {
            outcome = retryOrFail(delivery, error: "internal error: \(String(describing: type(of: error)))", now: now())
            logger.error("notification delivery raised", metadata: meta.merging(["error": "\(String(reflecting: error))"]) { $1 })
        }
        do {
            try await store.finishDelivery(delivery, token: token, outcome: outcome, now: now())
        } catch {
            logger.error("notification delivery outcome not recorded", metadata: meta.merging(["error": "\(error)"]) { $1 })
        }
        switch outcome {
        case .delivered:
            outcomes.delivered.increment()
            logger.debug("notification delivered", metadata: meta)
        case .retry(let error, _):
            outcomes.retried.increment()
            meta["error"] = "\(error)"
            logger.info("notification delivery will be retried", metadata: meta)
        case .failed(let error):
            outcomes.failed.increment()
            meta["error"] = "\(error)"
            logger.warning("notification delivery failed", metadata: meta)
        case .skipped(let reason):
            outcomes.skipped.increment()
            meta["reason"] = "\(reason)"
            logger.info("notification delivery skipped", metadata: meta)
        }
    }

    func retryOrFail(_ delivery: NotificationDelivery, error: String, now: Int64) -> NotificationStore.DeliveryOutcome {
        let attempt = delivery.attempts + 1
        let backoff = RetryBackoff(base: settings.retryBase, cap: settings.retryCap, maxAttempts: settings.maxAttempts)
        guard let at = backoff.nextAttempt(after: attempt, now: now) else { return .failed(error: "\(error) (gave up after \(attempt) attempts)") }
        return .retry(error: error, at: at)
    }

    /// One attempt; the outcome says what happens next.
    func attempt(_ delivery: NotificationDelivery, now: @Sendable () -> Int64,
                 sent: @escaping @Sendable () -> Void = {}) async throws -> NotificationStore.DeliveryOutcome {
        let payload = delivery.payloadObject
        guard let notificationID = delivery.notificationID else {
            return try await sendVerificationMail(delivery, payload: payload, now: now)
        }
        // Gone: the notification (and with it this row) was deleted; finishing changes nothing.
        guard let notification = try await store.notification(id: notificationID),
              let repository = try await services.store.repositoryByID(notification.repositoryID) else {
            return .skipped(reason: "the notification was deleted")
        }
        guard let method = notification.methodKind else { return .failed(error: "unknown method '\(notification.method)'") }
        if let reason = method.unsupportedReason { return .failed(error: reason) }
        let message = EventMessage(event: delivery.event, payload: payload)
        switch method {
        case .webhook:
            var body: EventValue = .object(payload)
            if case .string(let text)? = notification.config["template"], !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                body = try WebhookTemplate(text, event: delivery.event).apply(to: payload)
            } else if let template = notification.config["template"], case .object = template {
                body = try WebhookTemplate(template.json, event: delivery.event).apply(to: payload)
            }
            let bytes = Array(body.json.utf8)
            var headers = [("X-Slipway-Event", delivery.event), ("X-Slipway-Delivery", delivery.uuid)]
            if let sealed = notification.secretSealed {
                let secret = try services.secretBox.open(sealed, context: NotificationValidator.secretContext)
                headers.append((Self.signatureHeader, Self.signature(bytes, secret: secret)))
            }
            return await post(notification.config["url"]?.stringValue, bytes, headers: headers, delivery: delivery, now: now, sent: sent)
        case .slack:
            let colour = ["success": "good", "error": "danger", "warning": "warning", "primary": "#439FE0"][NotificationCatalog.level(delivery.event)] ?? "#cccccc"
            var attachment = message.details.joined(separator: "\n")
            if let link = message.link { attachment += (attachment.isEmpty ? "" : "\n") + "<\(link)|\(payload["repository"]?.stringValue ?? link)>" }
            let body = EventValue.object([
                "text": .string((notification.title.map { "\($0): " } ?? "") + message.summary), "username": .string("Slipway"),
                "attachments": .array([.object(["fallback": .string(message.summary), "text": .string(attachment), "color": .string(colour),
                                                "mrkdwn_in": .strings(["text"])])]),
            ])
            return await post(notification.config["url"]?.stringValue, Array(body.json.utf8), headers: [], delivery: delivery, now: now, sent: sent)
        case .email:
            guard let address = notification.config["email"]?.stringValue else { return .failed(error: "the notification has no e-mail address") }
            guard try await store.emailAuthorization(repositoryID: repository.id, email: address)?.confirmed == true else {
                return .skipped(reason: "the e-mail address \(address) has not been confirmed for \(repository.path) yet")
            }
            var text = message.text
            if let title = notification.title { text = "\(title)\n\n" + text }
            text += "\n\n-- \nSent by Slipway for the notification on \(repository.path). Manage notifications in the repository's settings."
            return await sendMail(MailMessage(to: address, subject: message.summary, body: text), delivery: delivery, now: now)
        case .quayNotification:
            guard case .object(let target)? = notification.config["target"], let kind = target["kind"]?.stringValue,
                  let name = target["name"]?.stringValue else { return .failed(error: "Missing target") }
            switch try await NotificationRecipients(accounts: services.store).resolve(kind: kind, name: name, repositoryNamespace: repository.namespace) {
            case .invalid(let why): return .failed(error: why)
            case .users(let ids, let organization):
                try await store.createUserNotifications(userIDs: ids, organization: organization, kind: delivery.event, metadata: payload,
                                                        source: delivery.uuid, now: now())
                return .delivered
            }
        case .flowdock, .hipchat:
            return .failed(error: method.unsupportedReason ?? "unsupported method")
        }
    }

    static let signatureHeader = "X-Slipway-Signature-256"

    /// `sha256=<hex HMAC-SHA256 of the body>`, GitHub's scheme, so receivers can reuse their checks.
    static func signature(_ body: [UInt8], secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    func post(_ url: String?, _ body: [UInt8], headers: [(String, String)], delivery: NotificationDelivery,
              now: @Sendable () -> Int64, sent: @escaping @Sendable () -> Void) async -> NotificationStore.DeliveryOutcome {
        guard let url else { return .failed(error: "the notification has no URL") }
        do {
            let reply = try await webhooks.send(to: url, body: body, headers: headers, onSent: sent)
            if reply.status / 100 == 2 { return .delivered }
            let excerpt = reply.excerpt.isEmpty ? "" : ": \(reply.excerpt)"
            return retryOrFail(delivery, error: "the receiver answered \(reply.status)\(excerpt)", now: now())
        } catch {
            if case .refused(let why) = error { return .failed(error: "URL refused: \(why)") }
            return retryOrFail(delivery, error: error.description, now: now())
        }
    }

    func sendMail(_ message: MailMessage, delivery: NotificationDelivery, now: @Sendable () -> Int64) async -> NotificationStore.DeliveryOutcome {
        do {
            try await mail.send(message)
            return .delivered
        } catch {
            switch error {
            case .notConfigured, .rejected: return .failed(error: error.description)
            case .transient: return retryOrFail(delivery, error: error.description, now: now())
            }
        }
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
        wake()
    }

    func sendVerificationMail(_ delivery: NotificationDelivery, payload: [String: EventValue],
                              now: @Sendable () -> Int64) async throws -> NotificationStore.DeliveryOutcome {
        guard delivery.event == Self.verificationEvent, let email = payload["email"]?.stringValue,
              let repository = payload["repository"]?.stringValue, let sealed = payload["link"]?.stringValue else {
            return .failed(error: "malformed delivery")
        }
        let link = try services.secretBox.open(sealed, context: Self.linkContext)
        let body = """
            Someone asked for notifications of the repository \(repository) to be sent to this address.

            To confirm that \(email) may receive them, open this link:

            \(link)

            If you did not expect this mail, ignore it: nothing will be sent to you.
            """
        return await sendMail(MailMessage(to: email, subject: "Verify e-mail address for notifications on \(repository)", body: body),
                              delivery: delivery, now: now)
    }
}
