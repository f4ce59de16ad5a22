import SlipwayCore

/// The OCI core's tables: blobs and their repository links, manifests (their blobs and
/// children), tags with their history, labels, and upload sessions. Versions 1-2 are what the
/// global migrations 1 and 20 created for these tables.
public enum RegistrySchema {
    public static let schema = ModuleSchema(module: "registry", migrations: [
        ModuleMigration(version: 1, name: "blobs, manifests, tags and uploads") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
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
            ]
        },
        ModuleMigration(version: 2, name: "labels and listing indexes") { f in
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
                "CREATE INDEX tags_name ON tags(repository_id, name, lifetime_start)",
                "CREATE INDEX uploads_updated ON uploads(updated_at)",
                "CREATE INDEX repository_blobs_digest ON repository_blobs(digest)",
            ]
        },
        ModuleMigration(version: 3, name: "tag view") { _ in
            [
                // The read-only view of tag rows other modules read (expiry notices).
                "CREATE VIEW tag_view AS SELECT id, repository_id, name, lifetime_end, expiration, hidden FROM tags",
            ]
        },
        ModuleMigration(version: 4, name: "global messages") { f in
            // Quay's maintenance banner (`/api/v1/messages`), shown on every page.
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                """
                CREATE TABLE global_messages (
                  id \(id),
                  uuid TEXT NOT NULL UNIQUE,
                  content TEXT NOT NULL,
                  media_type TEXT NOT NULL,
                  severity TEXT NOT NULL,
                  created_at \(big) NOT NULL)
                """,
            ]
        },
        ModuleMigration(version: 5, name: "upload writer claims") { f in
            [
                // The request writing to an upload right now, whichever replica it reached, and
                // until when its claim holds (renewed while it streams); `generation` names the
                // last write that completed, so a replica's cached hash state is used only for
                // the bytes it hashed itself (see UploadSessions).
                "ALTER TABLE uploads ADD COLUMN writer TEXT",
                "ALTER TABLE uploads ADD COLUMN writer_until \(f.bigint)",
                "ALTER TABLE uploads ADD COLUMN generation TEXT NOT NULL DEFAULT ''",
            ]
        },
    ])
}
