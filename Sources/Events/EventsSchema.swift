import SlipwayCore

/// The events module's table: the `repository_events` outbox (global migration 22).
public enum EventsSchema {
    public static let schema = ModuleSchema(module: "events", migrations: [
        ModuleMigration(version: 1, name: "repository events") { f in
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
        ModuleMigration(version: 2, name: "repository event view") { _ in
            [
                // The read-only view consumers of the outbox (notification fan-out) read.
                "CREATE VIEW repository_event_view AS SELECT id, kind, repository_id, payload, created_at FROM repository_events",
            ]
        },
    ])
}
