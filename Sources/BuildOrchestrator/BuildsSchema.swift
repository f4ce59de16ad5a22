import SlipwayCore

/// The build farm's tables: builds (request, queue state, result), their live log entries and
/// uploaded build contexts (file drops). Versions 1-4 are what the global migrations 23, 24, 30
/// and 31 created for these tables (the trigger indexes on `builds` were made by the triggers'
/// migrations then; they belong here, with the table).
public enum BuildsSchema {
    public static let schema = ModuleSchema(module: "builds", migrations: [
        ModuleMigration(version: 1, name: "builds") { f in
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
        ModuleMigration(version: 2, name: "build heartbeats") { f in
            ["ALTER TABLE builds ADD COLUMN heartbeat_at \(f.bigint)"]
        },
        ModuleMigration(version: 3, name: "builds by trigger index") { _ in
            // Builds of one trigger, newest first (trigger build lists, failure counters).
            ["CREATE INDEX builds_trigger ON builds(trigger_id, queued_at)"]
        },
        ModuleMigration(version: 4, name: "trigger failure counters index") { _ in
            // Every webhook reads its trigger's newest finished builds (the auto-disable
            // counters): an index in that order keeps it one short range read however many
            // builds the trigger has run.
            ["CREATE INDEX builds_trigger_finished ON builds(trigger_id, finished_at)"]
        },
        ModuleMigration(version: 5, name: "build view") { _ in
            [
                // The read-only view of builds other modules read (a trigger's builds and the
                // outcomes that count towards disabling it).
                "CREATE VIEW build_view AS SELECT id, uuid, repository_id, trigger_id, phase, queued_at, finished_at FROM builds",
            ]
        },
        // Replicas sharing one PostgreSQL queue lease without a cluster-wide lock: the database
        // holds the invariants. A leased (or stopping) build takes one of its namespace's slots
        // 0..<cap, so the unique index caps running builds per namespace, and a second index
        // allows one running build per repository; a lease is a conditional single-row update
        // that loses to any replica that got there first. Builds running at the upgrade keep
        // running: they get slots in lease order.
        ModuleMigration(version: 6, name: "build running slots") { _ in
            [
                "ALTER TABLE builds ADD COLUMN running_slot INTEGER",
                """
                UPDATE builds SET running_slot = (
                  SELECT COUNT(*) FROM builds AS b2
                  WHERE b2.namespace_id = builds.namespace_id AND b2.lease_id IS NOT NULL AND b2.finished_at IS NULL AND b2.id < builds.id)
                WHERE lease_id IS NOT NULL AND finished_at IS NULL
                """,
                "CREATE UNIQUE INDEX builds_namespace_running_slot ON builds(namespace_id, running_slot) WHERE running_slot IS NOT NULL",
                "CREATE UNIQUE INDEX builds_repository_running ON builds(repository_id) WHERE running_slot IS NOT NULL",
                // A namespace's unfinished builds (resyncs, the queued-per-namespace cap).
                "CREATE INDEX builds_namespace_unfinished ON builds(namespace_id, queued_at) WHERE finished_at IS NULL",
            ]
        },
        ModuleMigration(version: 7, name: "file drop expiry indexes") { _ in
            [
                // The collector asks, per file drop, whether a build uses it and whether that
                // build is still unfinished; and finds drops past their TTL by age.
                "CREATE INDEX builds_file ON builds(file_id, finished_at) WHERE file_id IS NOT NULL",
                "CREATE INDEX filedrops_created ON filedrops(created_at)",
            ]
        },
        // When the running attempt entered each phase a worker reports (epoch milliseconds; the
        // lease is `started_at`, the end `finished_at`): the build view's timing, the phase
        // histograms on /metrics. Cleared when a build is leased again.
        ModuleMigration(version: 8, name: "build phase times") { f in
            ["unpacking_at", "pulling_at", "building_at", "pushing_at"].map { "ALTER TABLE builds ADD COLUMN \($0) \(f.bigint)" }
        },
        // Build arguments (JSON object), the ids of the build's secrets (JSON array) and the
        // secrets themselves sealed with the instance key, cleared when the build finishes.
        ModuleMigration(version: 9, name: "build arguments and secrets") { _ in
            [
                "ALTER TABLE builds ADD COLUMN build_args TEXT",
                "ALTER TABLE builds ADD COLUMN build_secret_ids TEXT",
                "ALTER TABLE builds ADD COLUMN build_secrets_sealed TEXT",
            ]
        },
        // The registry layer cache of a build: the repository, the user whose access to it the
        // build uses, and the write token the running attempt holds.
        ModuleMigration(version: 10, name: "build layer cache") { f in
            [
                "ALTER TABLE builds ADD COLUMN cache_repository TEXT",
                "ALTER TABLE builds ADD COLUMN cache_user_id \(f.bigint)",
                "ALTER TABLE builds ADD COLUMN cache_token_uuid TEXT",
            ]
        },
        // The platforms of a multi-architecture build (JSON array of `os/arch[/variant]`;
        // NULL: one build for the worker's own platform) and the phase each platform last
        // reported (JSON object).
        ModuleMigration(version: 11, name: "build platforms") { _ in
            ["ALTER TABLE builds ADD COLUMN platforms TEXT", "ALTER TABLE builds ADD COLUMN platform_phases TEXT"]
        },
    ])
}
