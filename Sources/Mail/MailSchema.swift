import SlipwayCore

/// The mail module's table: the outbox (global migration 41); version 2 moved its queue onto
/// the job queue (`jobs`, queue `mail`).
public enum MailSchema {
    public static let schema = ModuleSchema(module: "mail", migrations: [
        ModuleMigration(version: 1, name: "mail outbox") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                // Mail that other modules queue (team invitations, finished log exports) and the
                // mail sender sends. `body_sealed` is sealed with the instance key (bodies
                // carry invitation codes and download links) and emptied once sent. `kind` and
                // `reference` say what the mail is about, so its outcome can be recorded there
                // (a log export's `email_status`). status: queued → sent | failed; a claim is a
                // lease (claim_token, lease_until) as in `notification_deliveries`.
                """
                CREATE TABLE mail_outbox (
                  id \(id),
                  uuid TEXT NOT NULL UNIQUE,
                  recipient TEXT NOT NULL,
                  subject TEXT NOT NULL,
                  body_sealed TEXT NOT NULL,
                  kind TEXT NOT NULL,
                  reference TEXT,
                  status TEXT NOT NULL DEFAULT 'queued',
                  attempts INTEGER NOT NULL DEFAULT 0,
                  next_attempt_at \(big) NOT NULL,
                  lease_until \(big),
                  claim_token TEXT,
                  sent_at \(big),
                  last_error TEXT,
                  created_at \(big) NOT NULL)
                """,
                "CREATE INDEX mail_outbox_due ON mail_outbox(status, next_attempt_at)",
                "CREATE INDEX mail_outbox_reference ON mail_outbox(kind, reference)",
            ]
        },
        ModuleMigration(version: 2, name: "mail as jobs") { _ in
            [
                // Every queued mail becomes a `MailJob` (same JSON and reference as
                // `MailOutbox.enqueue` pushes), due when the row was, keeping the attempts
                // made so far; the sender still stops at `notifications.maxAttempts`.
                """
                INSERT INTO jobs (queue, payload, ordering_key, reference, status, attempts, max_attempts, next_attempt_at, created_at)
                SELECT 'mail', '{"mail":' || CAST(id AS TEXT) || '}', NULL, CASE WHEN reference IS NULL THEN NULL ELSE kind || ':' || reference END,
                       'ready', attempts, CASE WHEN attempts < 25 THEN 25 ELSE attempts + 1 END, next_attempt_at, created_at
                FROM mail_outbox WHERE status = 'queued' ORDER BY id
                """,
                // Claims and leases are the job's now.
                "DROP INDEX mail_outbox_due",
                "ALTER TABLE mail_outbox DROP COLUMN lease_until",
                "ALTER TABLE mail_outbox DROP COLUMN claim_token",
            ]
        },
    ])
}
