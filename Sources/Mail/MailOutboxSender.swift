import Foundation
import Logging
import Metrics
import OutboundHTTP
import ServiceLifecycle
import SlipwayCore
import Synchronization

/// Sends the mail other modules queue in `mail_outbox` (team invitations, finished log exports)
/// through the configured SMTP server: a `JobQueueRunner` over the `mail` queue, each job one
/// mail (`MailJob`), one connection each, `concurrency` at a time. A queued mail wakes the
/// runner at once (the driver's wake-up); claims are leases, so a restart or another replica
/// carries on and never sends one mail twice while its claim holds.
///
/// A refused mail (5xx) fails at once; a transient failure (4xx, no connection, timeout) is
/// retried after `retryBase · 2^(n-1)`, capped at `retryCap`, until `notifications.maxAttempts`,
/// as notification deliveries are. The outcome is recorded on the row (and a log export's
/// `email_status`) in the transaction that ends the job's claim. Without
/// `notifications.smtpHost` nothing is claimed: mail stays queued (and is sent once a restart
/// configures SMTP), and one log line says so.
public final class MailOutboxSender: Service, Sendable {
    public struct Settings: Sendable {
        /// How often the runner looks for due mail when no push woke it.
        public var fallbackPoll: Duration = .seconds(10)
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
            fallbackPoll = max(.seconds(10), .seconds(max(1, config.dispatchIntervalSeconds)) * 10)
        }
    }

    public let settings: Settings
    let configured: Bool
    let runner: JobQueueRunner
    let outbox: MailOutbox
    let jobs: any JobQueueDriver
    let logger: Logger

    /// `smtp` is the mail server's settings (`notifications.smtp*`); `listeners` record the
    /// outcome of mail on the records it was about.
    public init(outbox: MailOutbox, jobs: any JobQueueDriver, smtp config: SlipwayConfig.Notifications, settings: Settings? = nil,
                listeners: [any MailOutcomeListener], logger: Logger) {
        let settings = settings ?? Settings(config: config)
        self.settings = settings
        self.configured = !config.smtpHost.isEmpty
        self.outbox = outbox
        self.jobs = jobs
        self.logger = logger
        let delivery = MailDelivery(outbox: outbox, jobs: jobs, settings: settings, listeners: listeners, logger: logger,
                                    smtp: SMTPClient(config: config, tls: OutboundTLS(notifications: config), timeout: settings.timeout))
        var runnerSettings = JobQueueRunner.Settings()
        runnerSettings.concurrency = settings.concurrency
        runnerSettings.visibilityTimeout = settings.timeout * 3 + .seconds(30)
        runnerSettings.fallbackPoll = settings.fallbackPoll
        runnerSettings.backoff = RetryBackoff(base: settings.retryBase, cap: settings.retryCap, maxAttempts: .max)
        runnerSettings.recordAbandoned = { job, error in
            guard let payload = try? job.decodePayload(MailJob.self) else { return nil }
            let now = jobs.clock.now()
            return { db in try await MailOutbox.recordAbandoned(mailID: payload.mail, error: error, now: now, listeners: listeners, on: db) }
        }
        self.runner = JobQueueRunner(queue: MailJob.queue, driver: jobs, settings: runnerSettings, logger: logger) { job in
            try await delivery.send(job)
        }
    }

    public func run() async throws {
        guard configured else {
            logger.warning("mail is not configured (notifications.smtpHost is empty): queued mail waits until it is")
            try? await gracefulShutdown()
            return
        }
        await withDiscardingTaskGroup { group in
            group.addTask { try? await self.runner.run() }
            group.addTask {
                try? await cancelWhenGracefulShutdown {
                    while !Task.isCancelled {
                        await self.prune()
                        try await Task.sleep(for: self.settings.pruneInterval)
                    }
                }
            }
        }
    }

    /// Sends every due mail; returns how many attempts were made. Tests call it directly (and
    /// move the job queue's clock to move time forward).
    @discardableResult
    public func runOnce() async -> Int {
        guard configured else { return 0 }
        return await runner.runOnce()
    }

    func prune() async {
        do {
            try await outbox.prune(before: jobs.clock.now() - settings.historyMillis)
        } catch {
            logger.error("mail outbox pruning failed", metadata: ["error": "\(error)"])
        }
    }

    public static func isDeliverable(_ address: String) -> Bool {
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        return address.utf8.count <= 254 && parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
            && !address.unicodeScalars.contains { $0.value <= 0x20 || $0.value == 0x7f || $0 == "<" || $0 == ">" }
    }
}

/// One attempt to send one queued mail: the mail job's handler.
struct MailDelivery: Sendable {
    let outbox: MailOutbox
    let jobs: any JobQueueDriver
    let settings: MailOutboxSender.Settings
    let listeners: [any MailOutcomeListener]
    let logger: Logger
    let smtp: SMTPClient
    let outcomes = (sent: Counter(label: "slipway_mail_outbox_total", dimensions: [("outcome", "sent")]),
                    retried: Counter(label: "slipway_mail_outbox_total", dimensions: [("outcome", "retried")]),
                    failed: Counter(label: "slipway_mail_outbox_total", dimensions: [("outcome", "failed")]))

    /// The recipient is logged, never the body (it holds the invitation code or the download link).
    func send(_ job: QueuedJob) async throws -> JobOutcome {
        guard let payload = try? job.decodePayload(MailJob.self) else { return .failed("malformed mail job") }
        guard let queued = try await outbox.mail(id: payload.mail), queued.status == .queued else {
            return .skipped("the mail was withdrawn or has been sent")
        }
        var meta: Logger.Metadata = ["mail": "\(queued.uuid)", "kind": "\(queued.kind)"]
        let attempt = try await self.attempt(queued, job: job)
        let now = jobs.clock.now()
        let listeners = self.listeners
        let record: JobTransactionBody = { db in try await MailOutbox.recordAttempt(queued, attempt, now: now, listeners: listeners, on: db) }
        switch attempt {
        case .sent:
            outcomes.sent.increment()
            logger.info("mail sent", metadata: meta)
            return .completed(record: record)
        case .retry(let error, let at):
            outcomes.retried.increment()
            meta["error"] = "\(error)"
            logger.info("mail delivery will be retried", metadata: meta)
            return .retry(error, at: at, record: record)
        case .failed(let error):
            outcomes.failed.increment()
            meta["error"] = "\(error)"
            logger.warning("mail delivery failed", metadata: meta)
            return .failed(error, record: record)
        }
    }

    func attempt(_ queued: QueuedMail, job: QueuedJob) async throws -> MailAttempt {
        // The address goes into `RCPT TO:<…>`: nothing that could end the command.
        guard MailOutboxSender.isDeliverable(queued.recipient) else { return .failed(error: "invalid recipient address") }
        let body: String
        do {
            body = try queued.body(opening: outbox.secretBox)
        } catch {
            return .failed(error: "the mail body cannot be opened with this instance's key")
        }
        do {
            try await smtp.send(MailMessage(to: queued.recipient, subject: queued.subject, body: body))
            return .sent
        } catch {
            // Shutting down is not the mail's fault: the runner gives the job back untried.
            if Task.isCancelled { throw CancellationError() }
            switch error {
            case .rejected: return .failed(error: error.description)
            case .notConfigured, .transient: return retryOrFail(queued, job: job, error: error.description)
            }
        }
    }

    func retryOrFail(_ queued: QueuedMail, job: QueuedJob, error: String) -> MailAttempt {
        let attempt = queued.attempts + 1
        let backoff = RetryBackoff(base: settings.retryBase, cap: settings.retryCap, maxAttempts: settings.maxAttempts)
        guard !job.isLastAttempt, let at = backoff.nextAttempt(after: attempt, now: jobs.clock.now()) else {
            return .failed(error: "\(error) (gave up after \(attempt) attempts)")
        }
        return .retry(error: error, at: at)
    }
}
