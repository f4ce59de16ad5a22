import Logging
import SQLKit

/// Versioned schema migrations, applied in order at start-up. Each migration runs in its own
/// transaction together with the row that records it, so a crash never leaves a half-applied
/// version. On PostgreSQL an advisory lock keeps replicas starting together from racing.
///
/// Conventions: ids are 64-bit identities, times are epoch milliseconds (BIGINT), booleans are
/// 0/1 integers, so every query reads the same on both backends.
public enum Migrations {
    struct Migration: Sendable {
        let version: Int
        let name: String
        let statements: @Sendable (SQLFlavor) -> [String]
    }

    /// Every migration: the core ones below plus each feature area's own list (numbers are
    /// reserved per area: 20–29 repositories and builds, 30–39 triggers, 40–49 notifications,
    /// 50–59 the job queue).
    static let all: [Migration] = core + triggers + notifications + jobs

    static let core: [Migration] = [
        Migration(version: 1, name: "registry foundation") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                """
                CREATE TABLE namespaces (
                  id \(id),
                  name TEXT NOT NULL UNIQUE,
                  kind TEXT NOT NULL,
                  email TEXT,
                  password_hash TEXT,
                  is_superuser INTEGER NOT NULL DEFAULT 0,
                  tag_expiration_s \(big) NOT NULL DEFAULT 1209600,
                  created_at \(big) NOT NULL)
                """,
                """
                CREATE TABLE teams (
                  id \(id),
                  org_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  name TEXT NOT NULL,
                  role TEXT NOT NULL,
                  description TEXT NOT NULL DEFAULT '',
                  created_at \(big) NOT NULL,
                  UNIQUE (org_id, name))
                """,
                """
                CREATE TABLE team_members (
                  team_id \(big) NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                  user_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  PRIMARY KEY (team_id, user_id))
                """,
                "CREATE INDEX team_members_user ON team_members(user_id)",
                """
                CREATE TABLE repositories (
                  id \(id),
                  namespace_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  name TEXT NOT NULL,
                  visibility TEXT NOT NULL,
                  description TEXT NOT NULL DEFAULT '',
                  state TEXT NOT NULL DEFAULT 'NORMAL',
                  created_at \(big) NOT NULL,
                  UNIQUE (namespace_id, name))
                """,
                """
                CREATE TABLE repository_permissions (
                  repository_id \(big) NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                  user_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  role TEXT NOT NULL,
                  PRIMARY KEY (repository_id, user_id))
                """,
                "CREATE INDEX repository_permissions_user ON repository_permissions(user_id)",
                """
                CREATE TABLE blobs (
                  digest TEXT PRIMARY KEY,
                  size \(big) NOT NULL,
                  created_at \(big) NOT NULL)
                """,
                """
                CREATE TABLE repository_blobs (
                  repository_id \(big) NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                  digest TEXT NOT NULL REFERENCES blobs(digest),
                  created_at \(big) NOT NULL,
                  PRIMARY KEY (repository_id, digest))
                """,
                """
                CREATE TABLE manifests (
                  id \(id),
                  repository_id \(big) NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                  digest TEXT NOT NULL,
                  media_type TEXT NOT NULL,
                  artifact_type TEXT,
                  subject_digest TEXT,
                  annotations TEXT,
                  size \(big) NOT NULL,
                  content TEXT NOT NULL,
                  created_at \(big) NOT NULL,
                  deleted_at \(big),
                  UNIQUE (repository_id, digest))
                """,
                "CREATE INDEX manifests_subject ON manifests(repository_id, subject_digest)",
                """
                CREATE TABLE manifest_blobs (
                  manifest_id \(big) NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
                  -- The foreign key makes a concurrent garbage collection of this blob fail
                  -- instead of leaving a manifest pointing at deleted bytes.
                  digest TEXT NOT NULL REFERENCES blobs(digest),
                  PRIMARY KEY (manifest_id, digest))
                """,
                "CREATE INDEX manifest_blobs_digest ON manifest_blobs(digest)",
                """
                CREATE TABLE manifest_children (
                  manifest_id \(big) NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
                  child_digest TEXT NOT NULL,
                  PRIMARY KEY (manifest_id, child_digest))
                """,
                """
                CREATE TABLE tags (
                  id \(id),
                  repository_id \(big) NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                  name TEXT NOT NULL,
                  manifest_id \(big) NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
                  lifetime_start \(big) NOT NULL,
                  lifetime_end \(big),
                  expiration \(big),
                  reversion INTEGER NOT NULL DEFAULT 0,
                  hidden INTEGER NOT NULL DEFAULT 0)
                """,
                // One live row per tag name at any instant: moves end the old row and insert a new one.
                "CREATE UNIQUE INDEX tags_live ON tags(repository_id, name) WHERE lifetime_end IS NULL",
                "CREATE INDEX tags_history ON tags(repository_id, lifetime_start)",
                "CREATE INDEX tags_manifest ON tags(manifest_id)",
                """
                CREATE TABLE uploads (
                  id TEXT PRIMARY KEY,
                  repository_id \(big) NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                  size \(big) NOT NULL DEFAULT 0,
                  created_at \(big) NOT NULL,
                  updated_at \(big) NOT NULL)
                """,
                """
                CREATE TABLE instance_keys (
                  name TEXT PRIMARY KEY,
                  value TEXT NOT NULL,
                  created_at \(big) NOT NULL)
                """,
                """
                CREATE TABLE api_tokens (
                  id \(id),
                  token_hash TEXT NOT NULL UNIQUE,
                  user_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  scopes TEXT NOT NULL,
                  description TEXT NOT NULL DEFAULT '',
                  created_at \(big) NOT NULL,
                  expires_at \(big))
                """,
            ]
        },
        Migration(version: 2, name: "accounts and access") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                // Robots are namespaces of kind 'robot' named `<owner>+<short>`, owned by a user or organization.
                "ALTER TABLE namespaces ADD COLUMN owner_id \(big) REFERENCES namespaces(id) ON DELETE CASCADE",
                "ALTER TABLE namespaces ADD COLUMN description TEXT NOT NULL DEFAULT ''",
                // Robot tokens must be re-displayable: AES-GCM sealed with the instance key, never plain.
                "ALTER TABLE namespaces ADD COLUMN robot_token_sealed TEXT",
                "ALTER TABLE namespaces ADD COLUMN robot_token_hash TEXT",
                "ALTER TABLE namespaces ADD COLUMN unstructured_metadata TEXT",
                "ALTER TABLE namespaces ADD COLUMN last_accessed \(big)",
                "CREATE INDEX namespaces_owner ON namespaces(owner_id)",
                """
                CREATE TABLE repository_team_permissions (
                  repository_id \(big) NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                  team_id \(big) NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                  role TEXT NOT NULL,
                  PRIMARY KEY (repository_id, team_id))
                """,
                "CREATE INDEX repository_team_permissions_team ON repository_team_permissions(team_id)",
                """
                CREATE TABLE team_invites (
                  id \(id),
                  team_id \(big) NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                  user_id \(big) REFERENCES namespaces(id) ON DELETE CASCADE,
                  email TEXT,
                  code_hash TEXT NOT NULL UNIQUE,
                  inviter_id \(big) REFERENCES namespaces(id) ON DELETE SET NULL,
                  created_at \(big) NOT NULL)
                """,
                """
                CREATE TABLE prototypes (
                  id \(id),
                  uuid TEXT NOT NULL UNIQUE,
                  org_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  activating_user_id \(big) REFERENCES namespaces(id) ON DELETE CASCADE,
                  delegate_user_id \(big) REFERENCES namespaces(id) ON DELETE CASCADE,
                  delegate_team_id \(big) REFERENCES teams(id) ON DELETE CASCADE,
                  role TEXT NOT NULL,
                  created_at \(big) NOT NULL)
                """,
                """
                CREATE TABLE app_tokens (
                  id \(id),
                  uuid TEXT NOT NULL UNIQUE,
                  user_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  title TEXT NOT NULL,
                  token_hash TEXT NOT NULL UNIQUE,
                  created_at \(big) NOT NULL,
                  last_accessed \(big),
                  expiration \(big))
                """,
                """
                CREATE TABLE oauth_applications (
                  id \(id),
                  org_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  client_id TEXT NOT NULL UNIQUE,
                  client_secret_sealed TEXT NOT NULL,
                  name TEXT NOT NULL,
                  redirect_uri TEXT NOT NULL DEFAULT '',
                  application_uri TEXT NOT NULL DEFAULT '',
                  description TEXT NOT NULL DEFAULT '',
                  avatar_email TEXT,
                  created_at \(big) NOT NULL)
                """,
                "ALTER TABLE api_tokens ADD COLUMN application_id \(big) REFERENCES oauth_applications(id) ON DELETE CASCADE",
                "ALTER TABLE api_tokens ADD COLUMN uuid TEXT",
                """
                CREATE TABLE repository_tokens (
                  id \(id),
                  uuid TEXT NOT NULL UNIQUE,
                  repository_id \(big) NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                  code_hash TEXT NOT NULL UNIQUE,
                  friendly_name TEXT NOT NULL DEFAULT '',
                  role TEXT NOT NULL,
                  kind TEXT NOT NULL DEFAULT 'delegate',
                  created_at \(big) NOT NULL,
                  expires_at \(big))
                """,
                """
                CREATE TABLE sessions (
                  id_hash TEXT PRIMARY KEY,
                  user_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  csrf_token TEXT NOT NULL,
                  created_at \(big) NOT NULL,
                  expires_at \(big) NOT NULL)
                """,
                "CREATE INDEX sessions_user ON sessions(user_id)",
            ]
        },
        // Numbered 20 so accounts work can add 3... without colliding; `run` applies every
        // missing version, whatever the order.
        Migration(version: 20, name: "repositories, tags, labels and usage logs") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                """
                CREATE TABLE manifest_labels (
                  id \(id),
                  uuid TEXT NOT NULL UNIQUE,
                  manifest_id \(big) NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
                  label_key TEXT NOT NULL,
                  label_value TEXT NOT NULL,
                  source_type TEXT NOT NULL,
                  media_type TEXT NOT NULL,
                  created_at \(big) NOT NULL)
                """,
                "CREATE INDEX manifest_labels_manifest ON manifest_labels(manifest_id)",
                """
                CREATE TABLE stars (
                  user_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  repository_id \(big) NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                  created_at \(big) NOT NULL,
                  PRIMARY KEY (user_id, repository_id))
                """,
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
                "CREATE INDEX tags_name ON tags(repository_id, name, lifetime_start)",
                // Blobs whose rows are gone; their bytes are removed one collector pass later,
                // unless a push brought the blob back in the meantime.
                "CREATE TABLE blob_deletions (digest TEXT PRIMARY KEY, created_at \(big) NOT NULL)",
                "CREATE INDEX uploads_updated ON uploads(updated_at)",
                "CREATE INDEX repository_blobs_digest ON repository_blobs(digest)",
            ]
        },
        Migration(version: 21, name: "log exports") { f in
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
        Migration(version: 22, name: "repository events") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                // The one internal event path (repo_push, build_*, repo_image_expiry): a durable
                // outbox that notifications consume. `dedup_key` makes an emission idempotent.
                """
                CREATE TABLE repository_events (
                  id \(id),
                  uuid TEXT NOT NULL UNIQUE,
                  kind TEXT NOT NULL,
                  repository_id \(big) REFERENCES repositories(id) ON DELETE CASCADE,
                  namespace_name TEXT NOT NULL,
                  repository_name TEXT NOT NULL,
                  payload TEXT NOT NULL,
                  dedup_key TEXT UNIQUE,
                  created_at \(big) NOT NULL)
                """,
                "CREATE INDEX repository_events_created ON repository_events(created_at)",
                "CREATE INDEX repository_events_repository ON repository_events(repository_id, created_at)",
            ]
        },
        Migration(version: 23, name: "builds") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                // One row per build: the request, its queue state (attempts, lease) and result.
                // The scheduler's in-memory state is rebuilt from the unfinished rows at start-up.
                """
                CREATE TABLE builds (
                  id \(id),
                  uuid TEXT NOT NULL UNIQUE,
                  repository_id \(big) NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                  namespace_id \(big) NOT NULL,
                  phase TEXT NOT NULL DEFAULT 'waiting',
                  display_name TEXT NOT NULL DEFAULT '',
                  manual_user_id \(big),
                  source_kind TEXT NOT NULL,
                  file_id TEXT,
                  archive_url TEXT,
                  git_url TEXT,
                  commit_sha TEXT,
                  subdirectory TEXT NOT NULL DEFAULT '',
                  dockerfile_path TEXT NOT NULL DEFAULT '',
                  context TEXT NOT NULL DEFAULT '',
                  tags TEXT NOT NULL,
                  pull_robot_id \(big),
                  trigger_id \(big),
                  trigger_metadata TEXT,
                  error_message TEXT,
                  manifest_digests TEXT,
                  attempts INTEGER NOT NULL DEFAULT 0,
                  not_before \(big),
                  worker_id TEXT,
                  lease_id TEXT,
                  started_at \(big),
                  stop_reason TEXT,
                  push_token_uuid TEXT,
                  queued_at \(big) NOT NULL,
                  finished_at \(big),
                  log_count INTEGER NOT NULL DEFAULT 0,
                  logs_truncated INTEGER NOT NULL DEFAULT 0,
                  log_archive_digest TEXT)
                """,
                "CREATE INDEX builds_repository ON builds(repository_id, queued_at)",
                "CREATE INDEX builds_unfinished ON builds(finished_at, queued_at)",
                """
                CREATE TABLE build_logs (
                  build_id \(big) NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
                  seq INTEGER NOT NULL,
                  entry TEXT NOT NULL,
                  PRIMARY KEY (build_id, seq))
                """,
                // Uploaded build contexts (`POST /api/v1/filedrop/` then PUT).
                """
                CREATE TABLE filedrops (
                  file_id TEXT PRIMARY KEY,
                  user_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  mime_type TEXT NOT NULL,
                  digest TEXT,
                  size \(big),
                  created_at \(big) NOT NULL)
                """,
            ]
        },
        // Replicas sharing one PostgreSQL queue judge a worker's liveness from the database.
        Migration(version: 24, name: "build heartbeats") { f in
            ["ALTER TABLE builds ADD COLUMN heartbeat_at \(f.bigint)"]
        },
    ]

    public static var latestVersion: Int { all.map(\.version).max() ?? 0 }

    /// Applies every migration newer than the database's version. Returns the versions applied.
    @discardableResult
    public static func run(on database: any MetadataDatabase, logger: Logger) async throws -> [Int] {
        let flavor = database.flavor
        try await database.transaction { db in
            try await db.raw("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                  version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at \(unsafeRaw: flavor.bigint) NOT NULL)
                """).run()
        }
        var applied: [Int] = []
        for migration in all {
            let didApply = try await database.transaction { db -> Bool in
                if flavor == .postgres {
                    try await db.raw("SELECT pg_advisory_xact_lock(7405001)").run()
                }
                let exists = try await db.raw("SELECT version FROM schema_migrations WHERE version = \(bind: migration.version)").first()
                if exists != nil { return false }
                for statement in migration.statements(flavor) {
                    try await db.raw("\(unsafeRaw: statement)").run()
                }
                try await db.raw("""
                    INSERT INTO schema_migrations (version, name, applied_at)
                    VALUES (\(bind: migration.version), \(bind: migration.name), \(bind: Clock.nowMillis()))
                    """).run()
                return true
            }
            if didApply {
                logger.info("applied schema migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                applied.append(migration.version)
            }
        }
        return applied
    }
}

public enum Clock {
    public static func nowMillis() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded())
    }
}

import Foundation
