import SlipwayCore

/// The notifications module's tables: configured repository notifications, their delivery
/// queue, the fan-out marks over the events outbox, expiry notices, e-mail authorizations and
/// in-app notifications. Version 1 is the global migration 40; version 2 moved the delivery
/// queue onto the job queue (`jobs`, queue `notification-delivery`).
public enum NotificationsSchema {
    public static let schema = ModuleSchema(module: "notifications", migrations: [
        ModuleMigration(version: 1, name: "repository notifications") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                // One row per configured notification. `config` and `event_config` are the JSON the
                // client sent (minus a webhook `secret`, which is sealed in `secret_sealed`);
                // `expiry_days` copies `event_config.days` of `repo_image_expiry` so the expiry scan
                // can filter in SQL. At `number_of_failures` 3 the notification is paused until reset.
                """
                CREATE TABLE repository_notifications (
                  id \(id),
                  uuid TEXT NOT NULL UNIQUE,
                  repository_id \(big) NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                  title TEXT,
                  event TEXT NOT NULL,
                  method TEXT NOT NULL,
                  config TEXT NOT NULL,
                  event_config TEXT NOT NULL,
                  secret_sealed TEXT,
                  expiry_days \(big),
                  number_of_failures INTEGER NOT NULL DEFAULT 0,
                  last_error TEXT,
                  created_at \(big) NOT NULL)
                """,
                "CREATE INDEX repository_notifications_repository ON repository_notifications(repository_id, event)",
                // The durable delivery queue: one row per (notification, event), claimed with a lease
                // (claim_token, lease_until) so a crashed replica's work is picked up again.
                // status: pending → delivered | failed | skipped. Verification mails have no
                // notification (`notification_id` NULL, `event` = 'email_authorization').
                """
                CREATE TABLE notification_deliveries (
                  id \(id),
                  uuid TEXT NOT NULL UNIQUE,
                  notification_id \(big) REFERENCES repository_notifications(id) ON DELETE CASCADE,
                  event_id \(big),
                  event TEXT NOT NULL,
                  payload TEXT NOT NULL,
                  is_test INTEGER NOT NULL DEFAULT 0,
                  status TEXT NOT NULL,
                  attempts INTEGER NOT NULL DEFAULT 0,
                  next_attempt_at \(big) NOT NULL,
                  lease_until \(big),
                  claim_token TEXT,
                  last_error TEXT,
                  created_at \(big) NOT NULL,
                  finished_at \(big),
                  UNIQUE (notification_id, event_id))
                """,
                "CREATE INDEX notification_deliveries_due ON notification_deliveries(status, next_attempt_at)",
                "CREATE INDEX notification_deliveries_notification ON notification_deliveries(notification_id, status)",
                // Which `repository_events` rows have been fanned out into deliveries. The events
                // table is not touched; `notification_dispatch_state.watermark` (the newest fanned-out
                // event's created_at) bounds the scan for unmarked events.
                "CREATE TABLE notification_event_marks (event_id \(big) PRIMARY KEY, created_at \(big) NOT NULL)",
                "CREATE INDEX notification_event_marks_created ON notification_event_marks(created_at)",
                "CREATE TABLE notification_dispatch_state (name TEXT PRIMARY KEY, watermark \(big) NOT NULL)",
                "INSERT INTO notification_dispatch_state (name, watermark) VALUES ('events', 0)",
                // One `repo_image_expiry` notice per notification, tag row and expiry (not per scan).
                """
                CREATE TABLE notification_expiry_notices (
                  notification_id \(big) NOT NULL REFERENCES repository_notifications(id) ON DELETE CASCADE,
                  tag_id \(big) NOT NULL,
                  expiration \(big) NOT NULL,
                  created_at \(big) NOT NULL,
                  PRIMARY KEY (notification_id, tag_id, expiration))
                """,
                // E-mail addresses confirmed (or awaiting confirmation) per repository. Only the
                // SHA-256 of the confirmation code is stored.
                """
                CREATE TABLE notification_email_authorizations (
                  id \(id),
                  repository_id \(big) NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                  email TEXT NOT NULL,
                  code_hash TEXT NOT NULL UNIQUE,
                  confirmed INTEGER NOT NULL DEFAULT 0,
                  created_at \(big) NOT NULL,
                  confirmed_at \(big),
                  UNIQUE (repository_id, email))
                """,
                // In-app notifications (Quay's `notification` table): one row per recipient.
                // `source` names the delivery that wrote it, so a retried delivery adds nothing twice.
                """
                CREATE TABLE user_notifications (
                  id \(id),
                  uuid TEXT NOT NULL UNIQUE,
                  user_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  organization TEXT,
                  kind TEXT NOT NULL,
                  metadata TEXT NOT NULL,
                  dismissed INTEGER NOT NULL DEFAULT 0,
                  source TEXT NOT NULL,
                  created_at \(big) NOT NULL,
                  UNIQUE (user_id, source))
                """,
                "CREATE INDEX user_notifications_user ON user_notifications(user_id, dismissed, created_at)",
            ]
        },
        ModuleMigration(version: 2, name: "deliveries as jobs") { _ in
            [
                // Every pending delivery becomes a `DeliveryJob` (same JSON, ordering key and
                // reference as `DeliveryJob.request`), due when the row was, in id order so a
                // notification's deliveries keep their order. The job counts the attempts made
                // so far and allows at least one more (five in all, the default, when fewer
                // were made); the dispatcher also stops at `notifications.maxAttempts`.
                """
                INSERT INTO jobs (queue, payload, ordering_key, reference, status, attempts, max_attempts, next_attempt_at, created_at)
                SELECT 'notification-delivery', '{"delivery":' || CAST(id AS TEXT) || '}', CAST(notification_id AS TEXT), uuid, 'ready',
                       attempts, CASE WHEN attempts < 5 THEN 5 ELSE attempts + 1 END, next_attempt_at, created_at
                FROM notification_deliveries WHERE status = 'pending' ORDER BY id
                """,
                // Claims and leases are the job's now.
                "DROP INDEX notification_deliveries_due",
                "ALTER TABLE notification_deliveries DROP COLUMN lease_until",
                "ALTER TABLE notification_deliveries DROP COLUMN claim_token",
            ]
        },
    ])
}
