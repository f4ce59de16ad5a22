import SlipwayCore

/// The audit module's tables: usage logs and log exports (global migrations 20 and 21); version
/// 3 moved the export queue onto the job queue (`jobs`, queue `log-export`).
public enum AuditSchema {
    public static let schema = ModuleSchema(module: "audit", migrations: [
        ModuleMigration(version: 1, name: "usage logs") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                // Names are copied into log rows so the audit trail survives deleted users and repositories.
                """
                CREATE TABLE usage_logs (
                  id \(id),
                  kind TEXT NOT NULL,
                  performer_id \(big),
                  performer_name TEXT,
                  performer_kind TEXT,
                  namespace_id \(big),
                  namespace_name TEXT,
                  repository_id \(big),
                  repository_name TEXT,
                  ip TEXT,
                  metadata TEXT NOT NULL DEFAULT '{}',
                  created_at \(big) NOT NULL)
                """,
                "CREATE INDEX usage_logs_repository ON usage_logs(repository_id, created_at)",
                "CREATE INDEX usage_logs_namespace ON usage_logs(namespace_id, created_at)",
                "CREATE INDEX usage_logs_performer ON usage_logs(performer_id, created_at)",
                "CREATE INDEX usage_logs_created ON usage_logs(created_at)",
            ]
        },
        ModuleMigration(version: 2, name: "log exports") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                // A durable queue: the exporter claims a due row with a lease (claim_token, lease_until),
                // so a crashed or restarted worker's job is picked up again once the lease runs out.
                // status: queued → delivering (data written, callback due) → done | failed.
                """
                CREATE TABLE log_exports (
                  id \(id),
                  uuid TEXT NOT NULL UNIQUE,
                  requester_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  scope_kind TEXT NOT NULL,
                  scope_id \(big) NOT NULL,
                  namespace_name TEXT NOT NULL,
                  repository_name TEXT,
                  start_time \(big) NOT NULL,
                  end_time \(big) NOT NULL,
                  callback_url TEXT,
                  callback_email TEXT,
                  email_status TEXT,
                  origin TEXT NOT NULL,
                  status TEXT NOT NULL,
                  result TEXT,
                  storage_digest TEXT,
                  size \(big),
                  export_attempts INTEGER NOT NULL DEFAULT 0,
                  callback_status TEXT NOT NULL,
                  callback_attempts INTEGER NOT NULL DEFAULT 0,
                  last_error TEXT,
                  next_attempt_at \(big) NOT NULL,
                  lease_until \(big),
                  claim_token TEXT,
                  created_at \(big) NOT NULL,
                  exported_at \(big),
                  finished_at \(big))
                """,
                "CREATE INDEX log_exports_due ON log_exports(status, next_attempt_at)",
                "CREATE INDEX log_exports_created ON log_exports(created_at)",
            ]
        },
        ModuleMigration(version: 3, name: "log exports as jobs") { _ in
            [
                // Every unfinished export gets the `LogExportJob` of the stage it is at (same JSON
                // and reference as `LogExportJob.request`), due when the row was, keeping that
                // stage's attempts; the exporter still stops at its own limits.
                """
                INSERT INTO jobs (queue, payload, ordering_key, reference, status, attempts, max_attempts, next_attempt_at, created_at)
                SELECT 'log-export',
                       '{"export":' || CAST(id AS TEXT) || ',"stage":"' || CASE WHEN status = 'queued' THEN 'write' ELSE 'callback' END || '"}',
                       NULL, uuid, 'ready', n, CASE WHEN n < 25 THEN 25 ELSE n + 1 END, next_attempt_at, created_at
                FROM (SELECT id, uuid, status, next_attempt_at, created_at,
                             CASE WHEN status = 'queued' THEN export_attempts ELSE callback_attempts END AS n
                      FROM log_exports WHERE status IN ('queued', 'delivering')) unfinished
                ORDER BY id
                """,
                // Claims and leases are the job's now.
                "DROP INDEX log_exports_due",
                "ALTER TABLE log_exports DROP COLUMN lease_until",
                "ALTER TABLE log_exports DROP COLUMN claim_token",
            ]
        },
    ])
}
