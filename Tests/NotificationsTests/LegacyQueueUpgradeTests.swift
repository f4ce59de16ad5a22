@testable import Notifications
import Accounts
import Audit
import Foundation
import Mail
import Registry
import SlipwayCore
import SlipwayTestSupport
import SQLKit
import Testing

/// Work that was waiting in the old per-feature queues when an installation upgrades is moved
/// onto the job queue by the owning module's migration (notifications#2, mail#2, audit#3) and
/// done afterwards: nothing pending is lost. The legacy fixture (8f6d78d) has nothing pending,
/// so each test adds pending rows in the old shape to a copy of it before the upgrade.
@Suite("Legacy queue upgrade")
struct LegacyQueueUpgradeTests {
    /// A copy of the legacy installation with `prepare` run on its database (old schema), then
    /// opened (and so upgraded) by today's code with `configure`d settings.
    static func upgraded(_ backend: TestBackend, configure: (inout SlipwayConfig) -> Void = { _ in },
                         prepare: @Sendable (any Database) async throws -> Void,
                         _ body: @Sendable (TestRegistry) async throws -> Void) async throws {
        var (config, cleanup) = try await LegacyInstallation.copy(backend)
        configure(&config)
        do {
            try await Databases.with(config: config, logger: TestRegistry.logger) { legacy in
                try await prepare(legacy)
            }
        } catch {
            await cleanup()
            throw error
        }
        let registry = try await TestRegistry.open(config: config, cleanup: cleanup)
        do {
            try await body(registry)
        } catch {
            await registry.stop()
            throw error
        }
        await registry.stop()
    }

    /// A delivery pending (after one failed attempt) in `notification_deliveries` is delivered by
    /// the new dispatcher. The fixture's notification is turned into an in-app one for the admin
    /// first, so delivering it needs no network.
    @Test(arguments: TestBackend.available)
    func pendingNotificationDeliveryIsDeliveredAfterUpgrade(backend: TestBackend) async throws {
        try await Self.upgraded(backend, prepare: { legacy in
            try await legacy.transaction { db in
                try await db.raw("""
                    UPDATE repository_notifications SET method = 'quay_notification', config = \(bind: #"{"target":{"kind":"user","name":"admin"}}"#)
                    WHERE title = 'push hook'
                    """).run()
                try await db.raw("""
                    INSERT INTO notification_deliveries (uuid, notification_id, event, payload, is_test, status, attempts, next_attempt_at,
                                                         last_error, created_at)
                    SELECT 'legacy-delivery', id, 'repo_push', \(bind: #"{"repository":"acme/app","updated_tags":["v1"]}"#), 0, 'pending', 1, 0,
                           'the receiver answered 502', 0
                    FROM repository_notifications WHERE title = 'push hook'
                    """).run()
            }
        }) { registry in
            let store = registry.notifications.store
            let admin = try #require(try await registry.services.accounts.namespace(named: TestRegistry.adminName))
            let repository = try #require(try await registry.services.accounts.repository(try RepositoryPath(parsing: "acme/app")))
            let notification = try #require(try await store.notifications(repositoryID: repository.id).first)

            let jobs = try await registry.services.jobs.jobs(queue: DeliveryJob.queue, reference: "legacy-delivery")
            #expect(jobs.count == 1)
            #expect(jobs.first?.orderingKey == String(notification.id))
            #expect(jobs.first?.attempts == 1, "the attempt made before the upgrade counts")

            _ = await registry.notifications.dispatcher.runOnce()
            let deliveries = try await store.deliveries(notificationID: notification.id)
            #expect(deliveries.map(\.status) == [.delivered])
            #expect(deliveries.first?.attempts == 2)
            let inbox = try await store.userNotifications(userID: admin.id, page: 0, limit: 10)
            #expect(inbox.map(\.kind) == ["repo_push"])
            #expect(try await registry.services.jobs.jobs(queue: DeliveryJob.queue, reference: "legacy-delivery").map(\.status) == [.done])
        }
    }

    /// A mail queued in `mail_outbox` (after one failed attempt) is sent by the new sender, and
    /// can still be withdrawn by its reference.
    @Test(arguments: TestBackend.available)
    func queuedMailIsSentAfterUpgrade(backend: TestBackend) async throws {
        try await SMTPSink.with { sink in
            try await Self.upgraded(backend, configure: { config in
                config.notifications.smtpHost = "127.0.0.1"
                config.notifications.smtpPort = sink.port
                config.notifications.smtpFrom = "registry@slipway.test"
                // One attempt is all this test makes: give it time on a loaded machine.
                config.notifications.deliveryTimeoutSeconds = 60
            }, prepare: { legacy in
                let box = try await SecretBox.load(keys: InstanceKeys(database: legacy))
                let sealed = try box.seal("Queued before the upgrade.", context: "mail:legacy-mail")
                try await legacy.transaction { db in
                    try await db.raw("""
                        INSERT INTO mail_outbox (uuid, recipient, subject, body_sealed, kind, reference, status, attempts, next_attempt_at,
                                                 last_error, created_at)
                        VALUES ('legacy-mail', 'ops@example.test', 'Queued before the upgrade', \(bind: sealed), 'org_team_invite', '7:9',
                                'queued', 1, 0, 'mail delivery failed: connection refused', 0)
                        """).run()
                }
            }) { registry in
                let jobs = try await registry.services.jobs.jobs(queue: MailJob.queue, reference: "org_team_invite:7:9")
                #expect(jobs.count == 1)
                #expect(jobs.first?.attempts == 1)

                #expect(await registry.notifications.mailSender.runOnce() == 1)
                let attempted = try await registry.services.mail.mails(kind: MailKind.teamInvite, reference: "7:9").first
                #expect(sink.received.map(\.subject) == ["Queued before the upgrade"], "last error: \(attempted?.lastError ?? "none")")
                #expect(sink.received.first?.body.contains("Queued before the upgrade.") == true)
                let mail = try #require(try await registry.services.mail.mails(kind: MailKind.teamInvite, reference: "7:9").first)
                #expect(mail.status == .sent)
                #expect(mail.attempts == 2)
            }
        }
    }

    /// Log exports unfinished before the upgrade are finished: one whose logs are still to be
    /// written, one whose callback is still to be posted.
    @Test(arguments: TestBackend.available)
    func unfinishedLogExportsFinishAfterUpgrade(backend: TestBackend) async throws {
        try await HTTPReceiver.with { receiver in
            let now = Clock.nowMillis()
            try await Self.upgraded(backend, configure: { $0.security.allowPrivateTargets = true }, prepare: { legacy in
                try await legacy.transaction { db in
                    for (uuid, status, callback) in [("legacy-write", "queued", nil), ("legacy-callback", "delivering", receiver.url)] {
                        try await db.raw("""
                            INSERT INTO log_exports (uuid, requester_id, scope_kind, scope_id, namespace_name, start_time, end_time, callback_url,
                                                     origin, status, result, export_attempts, callback_status, callback_attempts, next_attempt_at,
                                                     created_at)
                            SELECT \(bind: uuid), id, 'performer', id, 'admin', \(bind: now - 86_400_000), \(bind: now + 86_400_000), \(bind: callback),
                                   'http://registry.test', \(bind: status), \(bind: callback == nil ? nil : "failed"), \(bind: callback == nil ? 0 : 1),
                                   \(bind: callback == nil ? "none" : "pending"), \(bind: callback == nil ? 0 : 1), 0, \(bind: now)
                            FROM namespaces WHERE name = 'admin'
                            """).run()
                    }
                }
            }) { registry in
                let store = registry.services.auditStore
                let stages = try await registry.services.jobs.jobs(queue: LogExportJob.queue).map { job in
                    "\(job.reference ?? "?") \(try job.decodePayload(LogExportJob.self).stage.rawValue)"
                }
                #expect(stages == ["legacy-write write", "legacy-callback callback"])

                #expect(await LogExporter(services: registry.services).runPending() == 2)
                let written = try #require(try await store.logExport(uuid: "legacy-write"))
                #expect(written.status == .done)
                #expect(written.result == .success)
                #expect(written.storageDigest != nil)
                let called = try #require(try await store.logExport(uuid: "legacy-callback"))
                #expect(called.status == .done)
                #expect(called.callbackStatus == "delivered")
                #expect(called.callbackAttempts == 2)
                #expect(receiver.requests.compactMap { $0.json?["export_id"] as? String } == ["legacy-callback"])
            }
        }
    }
}
