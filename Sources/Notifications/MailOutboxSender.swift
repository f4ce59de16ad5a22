import Foundation
import Logging
import Metrics
import OutboundHTTP
import Registry
import ServiceLifecycle
import SlipwayCore
import Synchronization

/// Sends the mail the registry queues in `mail_outbox` (team invitations, finished log exports)
/// through the configured SMTP server.
///
/// Each pass claims due mails (leases in the database, so a restart or another replica carries
/// on and PostgreSQL never hands one mail to two senders) and sends them one connection each,
/// `concurrency` at a time. A refused mail (5xx) fails at once; a transient failure (4xx, no
/// connection, timeout) is retried after `retryBase · 2^(n-1)`, capped at `retryCap`, until
/// `notifications.maxAttempts`, as the notification dispatcher does. Without
/// `notifications.smtpHost` nothing is claimed: mail stays queued (and is sent once a restart
/// configures SMTP), and one log line says so.
public final class MailOutboxSender: Service, Sendable {
    public struct Settings: Sendable {
        public var pollInterval: Duration = .seconds(1)
        public var retryBase: Duration = .seconds(2)
        public var retryCap: Duration = .seconds(300)
        public var maxAttempts = 5
        /// Mails in flight at once.
        public var concurrency = 4
        /// Per-attempt time limit (connect, TLS, the whole SMTP exchange).
        public var timeout: Duration = .seconds(10)
        /// Sent and failed mails are kept this long (diagnostics), then deleted.
        public var historyMillis: Int64 = 7 * 86_400_000
        public var pruneInterval: Duration = .seconds(3600)
        public init() {}

        public init(config: SlipwayConfig.Notifications) {
            self.init()
            maxAttempts = max(1, config.maxAttempts)
            timeout = .seconds(config.deliveryTimeoutSeconds)
            pollInterval = .seconds(max(1, config.dispatchIntervalSeconds))
        }
    }

    let services: RegistryServices
    public let settings: Settings
    let mail: SMTPClient
    let configured: Bool
    private let warnedUnconfigured = Atomic<Bool>(false)
    private let lastPrune = Mutex<ContinuousClock.Instant?>(nil)
    private let outcomes = (sent: Counter(label: "slipway_mail_outbox_total", dimensions: [("outcome", "sent")]),
                            retried: Counter(label: "slipway_mail_outbox_total", dimensions: [("outcome", "retried")]),
                            failed: Counter(label: "slipway_mail_outbox_total", dimensions: [("outcome", "failed")]))

    /// `smtp` replaces `services.config.notifications` for the mail server (tests point one
    /// sender at a dead port and another at a live one).
    public init(services: RegistryServices, settings: Settings? = nil, smtp: SlipwayConfig.Notifications? = nil) {
        self.services = services
        let config = smtp ?? services.config.notifications
        let settings = settings ?? Settings(config: config)
        self.settings = settings
        self.mail = SMTPClient(config: config, tls: OutboundTLS(notifications: config), timeout: settings.timeout)
        self.configured = !config.smtpHost.isEmpty
    }

    var logger: Logger { services.logger }
    var store: MetadataStore { services.store }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.runOnce()
                try await Task.sleep(for: self.settings.pollInterval)
            }
        }
    }

    /// One pass: sends every due mail; returns how many attempts were made. The service calls it
    /// every poll; tests call it directly, with `now` to move time forward.
    @discardableResult
    public func runOnce(now fixed: Int64? = nil) async -> Int {
        let now: @Sendable () -> Int64 = { fixed ?? Clock.nowMillis() }
        await pruneIfDue(now: now())
        do {
            guard try await store.hasDueMail(now: now()) else { return 0 }
        } catch {
            logger.error("mail outbox unavailable", metadata: ["error": "\(error)"])
            return 0
        }
        guard configured else {
            if !warnedUnconfigured.exchange(true, ordering: .relaxed) {
                logger.warning("mail is not configured (notifications.smtpHost is empty): queued mail waits until it is")
            }
            return 0
        }
        let leaseMillis = Int64(settings.timeout.components.seconds) * 3000 + 30_000
        var attempts = 0
        while !Task.isCancelled {
            let claimed: [QueuedMail]
            do {
                claimed = try await store.claimMail(token: UUID().uuidString, limit: settings.concurrency, leaseMillis: leaseMillis, now: now())
            } catch {
                logger.error("mail outbox claim failed", metadata: ["error": "\(error)"])
                break
            }
            if claimed.isEmpty { break }
            await withTaskGroup(of: Void.self) { group in
                for queued in claimed {
                    group.addTask { await self.process(queued, now: now) }
                }
            }
            attempts += claimed.count
        }
        return attempts
    }

    func pruneIfDue(now: Int64) async {
        let due = lastPrune.withLock { last in
            guard last.map({ ContinuousClock.now - $0 >= settings.pruneInterval }) ?? true else { return false }
            last = .now
            return true
        }
        guard due else { return }
        do {
            try await store.pruneMail(before: now - settings.historyMillis)
        } catch {
            logger.error("mail outbox pruning failed", metadata: ["error": "\(error)"])
        }
    }

    /// What happens to a mail after one attempt.
    enum Outcome: Equatable {
        case sent
        case retry(error: String, at: Int64)
        case failed(error: String)
        /// Not attempted (shutting down): given back uncounted.
        case released
    }

    /// One attempt and its bookkeeping. The recipient is logged, never the body (it holds the
    /// invitation code or the download link).
    func process(_ queued: QueuedMail, now: @Sendable () -> Int64) async {
        guard let token = queued.claimToken else { return }
        var meta: Logger.Metadata = ["mail": "\(queued.uuid)", "kind": "\(queued.kind)"]
        let outcome = await attempt(queued, now: now)
        do {
            switch outcome {
            case .sent: try await store.markMailSent(queued, token: token, now: now())
            case .retry(let error, let at): try await store.markMailRetry(queued, token: token, error: error, retryAt: at)
            case .failed(let error): try await store.markMailFailed(queued, token: token, error: error, now: now())
            case .released: try await store.releaseMail(queued, token: token)
            }
        } catch {
            logger.error("mail outcome not recorded", metadata: meta.merging(["error": "\(error)"]) { $1 })
        }
        switch outcome {
        case .sent:
            outcomes.sent.increment()
            logger.info("mail sent", metadata: meta)
        case .retry(let error, _):
            outcomes.retried.increment()
            meta["error"] = "\(error)"
            logger.info("mail delivery will be retried", metadata: meta)
        case .failed(let error):
            outcomes.failed.increment()
            meta["error"] = "\(error)"
            logger.warning("mail delivery failed", metadata: meta)
        case .released:
            break
        }
    }

    func attempt(_ queued: QueuedMail, now: @Sendable () -> Int64) async -> Outcome {
        // The address goes into `RCPT TO:<…>`: nothing that could end the command.
        guard Self.isDeliverable(queued.recipient) else { return .failed(error: "invalid recipient address") }
        let body: String
        do {
            body = try queued.body(opening: services.secretBox)
        } catch {
            return .failed(error: "the mail body cannot be opened with this instance's key")
        }
        do {
            try await mail.send(MailMessage(to: queued.recipient, subject: queued.subject, body: body))
            return .sent
        } catch {
            if Task.isCancelled { return .released }
            switch error {
            case .notConfigured: return .released
            case .rejected: return .failed(error: error.description)
            case .transient: return retryOrFail(queued, error: error.description, now: now())
            }
        }
    }

    func retryOrFail(_ queued: QueuedMail, error: String, now: Int64) -> Outcome {
        let attempt = queued.attempts + 1
        let backoff = RetryBackoff(base: settings.retryBase, cap: settings.retryCap, maxAttempts: settings.maxAttempts)
        guard let at = backoff.nextAttempt(after: attempt, now: now) else { return .failed(error: "\(error) (gave up after \(attempt) attempts)") }
        return .retry(error: error, at: at)
    }

    static func isDeliverable(_ address: String) -> Bool {
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        return address.utf8.count <= 254 && parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
            && !address.unicodeScalars.contains { $0.value <= 0x20 || $0.value == 0x7f || $0 == "<" || $0 == ">" }
    }
}
