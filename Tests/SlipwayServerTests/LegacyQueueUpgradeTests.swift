import Foundation
import Notifications
import Registry
import SlipwayCore
import SlipwayServer
import SlipwayTestSupport
import SQLKit
import Testing

/// Work that was waiting in the old per-feature queues when an installation upgrades is moved
/// onto the job queue by the owning module's migration and done afterwards: nothing pending is
/// lost. The legacy fixture (8f6d78d) has nothing pending, so each test adds a pending row in
/// the old shape to a copy of it before the upgrade.
@Suite("Legacy queue upgrade")
struct LegacyQueueUpgradeTests {
    /// A copy of the legacy installation with `prepare` run on its database (old schema), then
    /// opened (and so upgraded) by today's code.
    static func upgraded(_ backend: TestBackend, prepare: @Sendable (any SQLDatabase) async throws -> Void,
                         _ body: @Sendable (TestRegistry) async throws -> Void) async throws {
        let (config, cleanup) = try await LegacySchemaUpgradeTests.legacyInstallation(backend)
        do {
            let legacy = try await Databases.open(config: config, logger: TestRegistry.logger)
            do {
                try await legacy.transaction { db in try await prepare(db) }
            } catch {
                await legacy.shutdown()
                throw error
            }
            await legacy.shutdown()
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
        try await Self.upgraded(backend, prepare: { db in
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
        }) { registry in
            let store = registry.notifications.store
            let admin = try #require(try await registry.services.store.namespace(named: TestRegistry.adminName))
            let repository = try #require(try await registry.services.store.repository(try RepositoryPath(parsing: "acme/app")))
            let notification = try #require(try await store.notifications(repositoryID: repository.id).first)

            let jobs = try await registry.services.jobs.jobs(queue: "notification-delivery", reference: "legacy-delivery")
            #expect(jobs.count == 1)
            #expect(jobs.first?.orderingKey == String(notification.id))
            #expect(jobs.first?.attempts == 1, "the attempt made before the upgrade counts")

            _ = await registry.notifications.dispatcher.runOnce()
            let deliveries = try await store.deliveries(notificationID: notification.id)
            #expect(deliveries.map(\.status) == [.delivered])
            #expect(deliveries.first?.attempts == 2)
            let inbox = try await store.userNotifications(userID: admin.id, page: 0, limit: 10)
            #expect(inbox.map(\.kind) == ["repo_push"])
            #expect(try await registry.services.jobs.jobs(queue: "notification-delivery", reference: "legacy-delivery").map(\.status) == [.done])
        }
    }
}
