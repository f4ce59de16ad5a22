import SlipwayCore

/// The mail module's table: the outbox (global migration 41).
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
    ])
}
