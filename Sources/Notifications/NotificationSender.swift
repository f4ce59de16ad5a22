import Accounts
import Crypto
import Foundation
import Logging
import Mail
import Metrics
import OutboundHTTP
import Registry
import SlipwayCore

/// Sends one notification delivery per job of the `notification-delivery` queue: the handler
/// of the dispatcher's `JobQueueRunner`. Webhooks (signed, optionally templated), Slack,
/// e-mail (to confirmed addresses) and in-app notifications; verification mails too.
struct NotificationSender: Sendable {
    let services: RegistryServices
    let store: NotificationStore
    let settings: NotificationDispatcher.Settings
    let webhooks: OutboundHTTPClient
    let mail: SMTPClient
    let outcomes = (delivered: Counter(label: "slipway_notification_deliveries_total", dimensions: [("outcome", "delivered")]),
                    retried: Counter(label: "slipway_notification_deliveries_total", dimensions: [("outcome", "retried")]),
                    failed: Counter(label: "slipway_notification_deliveries_total", dimensions: [("outcome", "failed")]),
                    skipped: Counter(label: "slipway_notification_deliveries_total", dimensions: [("outcome", "skipped")]))

    var logger: Logger { services.logger }
    var now: Int64 { services.jobs.clock.now() }

    // MARK: Deliveries

    /// The runner's handler: one attempt of one delivery. The outcome is recorded on the
    /// delivery row and its notification in the transaction that ends the job's claim;
    /// `underway` is called once the request is on the wire.
    func deliver(_ job: QueuedJob, underway: @escaping @Sendable () -> Void) async throws -> JobOutcome {
        guard let payload = try? job.decodePayload(DeliveryJob.self) else { return .failed("malformed delivery job") }
        // Gone with its notification, or finished already: nothing to send.
        guard let delivery = try await store.delivery(id: payload.delivery), delivery.status == .pending else {
            return .skipped("the delivery was deleted or has finished")
        }
        var meta: Logger.Metadata = ["delivery": "\(delivery.uuid)", "event": "\(delivery.event)"]
        let outcome: NotificationStore.DeliveryOutcome
        do {
            outcome = try await attempt(delivery, job: job, sent: underway)
        } catch {
            if Task.isCancelled { throw CancellationError() }
            outcome = retryOrFail(delivery, job: job, error: "internal error: \(String(describing: type(of: error)))")
            logger.error("notification delivery raised", metadata: meta.merging(["error": "\(String(reflecting: error))"]) { $1 })
        }
        let finishedAt = now
        let record: JobTransactionBody = { db in try await NotificationStore.record(delivery, outcome, now: finishedAt, on: db) }
        switch outcome {
        case .delivered:
            outcomes.delivered.increment()
            logger.debug("notification delivered", metadata: meta)
            return .completed(record: record)
        case .retry(let error, let at):
            outcomes.retried.increment()
            meta["error"] = "\(error)"
            logger.info("notification delivery will be retried", metadata: meta)
            return .retry(error, at: at, record: record)
        case .failed(let error):
            outcomes.failed.increment()
            meta["error"] = "\(error)"
            logger.warning("notification delivery failed", metadata: meta)
            return .failed(error, record: record)
        case .skipped(let reason):
            outcomes.skipped.increment()
            meta["reason"] = "\(reason)"
            logger.info("notification delivery skipped", metadata: meta)
            return .skipped(reason, record: record)
        }
    }

    /// A retry after the backoff, or the end: after `maxAttempts` attempts, or when the job has
    /// no attempt left.
    func retryOrFail(_ delivery: NotificationDelivery, job: QueuedJob, error: String) -> NotificationStore.DeliveryOutcome {
        let attempt = delivery.attempts + 1
        let backoff = RetryBackoff(base: settings.retryBase, cap: settings.retryCap, maxAttempts: settings.maxAttempts)
        guard !job.isLastAttempt, let at = backoff.nextAttempt(after: attempt, now: now) else {
            return .failed(error: "\(error) (gave up after \(attempt) attempts)")
        }
        return .retry(error: error, at: at)
    }

    /// One attempt; the outcome says what happens next.
    func attempt(_ delivery: NotificationDelivery, job: QueuedJob,
                 sent: @escaping @Sendable () -> Void = {}) async throws -> NotificationStore.DeliveryOutcome {
        let payload = delivery.payloadObject
        guard let notificationID = delivery.notificationID else {
            return try await sendVerificationMail(delivery, job: job, payload: payload)
        }
        // Gone: the notification (and with it this row) was deleted; finishing changes nothing.
        guard let notification = try await store.notification(id: notificationID),
              let repository = try await services.accounts.repositoryByID(notification.repositoryID) else {
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
            return await post(notification.config["url"]?.stringValue, bytes, headers: headers, delivery: delivery, job: job, sent: sent)
        case .slack:
            let colour = ["success": "good", "error": "danger", "warning": "warning", "primary": "#439FE0"][NotificationCatalog.level(delivery.event)] ?? "#cccccc"
            var attachment = message.details.joined(separator: "\n")
            if let link = message.link { attachment += (attachment.isEmpty ? "" : "\n") + "<\(link)|\(payload["repository"]?.stringValue ?? link)>" }
            let body = EventValue.object([
                "text": .string((notification.title.map { "\($0): " } ?? "") + message.summary), "username": .string("Slipway"),
                "attachments": .array([.object(["fallback": .string(message.summary), "text": .string(attachment), "color": .string(colour),
                                                "mrkdwn_in": .strings(["text"])])]),
            ])
            return await post(notification.config["url"]?.stringValue, Array(body.json.utf8), headers: [], delivery: delivery, job: job, sent: sent)
        case .email:
            guard let address = notification.config["email"]?.stringValue else { return .failed(error: "the notification has no e-mail address") }
            guard try await store.emailAuthorization(repositoryID: repository.id, email: address)?.confirmed == true else {
                return .skipped(reason: "the e-mail address \(address) has not been confirmed for \(repository.path) yet")
            }
            var text = message.text
            if let title = notification.title { text = "\(title)\n\n" + text }
            text += "\n\n-- \nSent by Slipway for the notification on \(repository.path). Manage notifications in the repository's settings."
            return await sendMail(MailMessage(to: address, subject: message.summary, body: text), delivery: delivery, job: job)
        case .quayNotification:
            guard case .object(let target)? = notification.config["target"], let kind = target["kind"]?.stringValue,
                  let name = target["name"]?.stringValue else { return .failed(error: "Missing target") }
            switch try await NotificationRecipients(accounts: services.accounts).resolve(kind: kind, name: name, repositoryNamespace: repository.namespace) {
            case .invalid(let why): return .failed(error: why)
            case .users(let ids, let organization):
                try await store.createUserNotifications(userIDs: ids, organization: organization, kind: delivery.event, metadata: payload,
                                                        source: delivery.uuid, now: now)
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
              job: QueuedJob, sent: @escaping @Sendable () -> Void) async -> NotificationStore.DeliveryOutcome {
        guard let url else { return .failed(error: "the notification has no URL") }
        do {
            let reply = try await webhooks.send(to: url, body: body, headers: headers, onSent: sent)
            if reply.status / 100 == 2 { return .delivered }
            let excerpt = reply.excerpt.isEmpty ? "" : ": \(reply.excerpt)"
            return retryOrFail(delivery, job: job, error: "the receiver answered \(reply.status)\(excerpt)")
        } catch {
            if case .refused(let why) = error { return .failed(error: "URL refused: \(why)") }
            return retryOrFail(delivery, job: job, error: error.description)
        }
    }

    func sendMail(_ message: MailMessage, delivery: NotificationDelivery, job: QueuedJob) async -> NotificationStore.DeliveryOutcome {
        do {
            try await mail.send(message)
            return .delivered
        } catch {
            switch error {
            case .notConfigured, .rejected: return .failed(error: error.description)
            case .transient: return retryOrFail(delivery, job: job, error: error.description)
            }
        }
    }

    // MARK: E-mail verification

    func sendVerificationMail(_ delivery: NotificationDelivery, job: QueuedJob,
                              payload: [String: EventValue]) async throws -> NotificationStore.DeliveryOutcome {
        guard delivery.event == NotificationDispatcher.verificationEvent, let email = payload["email"]?.stringValue,
              let repository = payload["repository"]?.stringValue, let sealed = payload["link"]?.stringValue else {
            return .failed(error: "malformed delivery")
        }
        let link = try services.secretBox.open(sealed, context: NotificationDispatcher.linkContext)
        let body = """
            Someone asked for notifications of the repository \(repository) to be sent to this address.

            To confirm that \(email) may receive them, open this link:

            \(link)

            If you did not expect this mail, ignore it: nothing will be sent to you.
            """
        return await sendMail(MailMessage(to: email, subject: "Verify e-mail address for notifications on \(repository)", body: body),
                              delivery: delivery, job: job)
    }
}
