import SlipwayCore

/// The scanner's tables: imported vulnerability data, one row per advisory and affected
/// package so that matching an image reads only the rows of the packages it has.
public enum ScannerSchema {
    public static let schema = ModuleSchema(module: "scanner", migrations: [
        ModuleMigration(version: 1, name: "vulnerability sources and advisories") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                // A source is what one import replaces as a whole (a feed file or URL): its
                // rows change in one transaction, so a half-read feed never replaces a good one.
                """
                CREATE TABLE vulnerability_sources (
                  name TEXT PRIMARY KEY,
                  format TEXT NOT NULL,
                  content_digest TEXT NOT NULL,
                  advisories \(big) NOT NULL,
                  skipped \(big) NOT NULL,
                  imported_at \(big) NOT NULL)
                """,
                """
                CREATE TABLE vulnerability_affected (
                  id \(id),
                  source TEXT NOT NULL REFERENCES vulnerability_sources(name) ON DELETE CASCADE,
                  advisory_id TEXT NOT NULL,
                  namespace TEXT NOT NULL,
                  package TEXT NOT NULL,
                  advisory TEXT NOT NULL)
                """,
                "CREATE INDEX vulnerability_affected_package ON vulnerability_affected(namespace, package)",
                "CREATE INDEX vulnerability_affected_source ON vulnerability_affected(source)",
            ]
        },
        ModuleMigration(version: 2, name: "vulnerability feed fetch state") { f in
            let big = f.bigint
            return [
                // One row per configured feed: the validators of the content last imported
                // (conditional requests), and `next_check_at`, which a replica moves forward to
                // take the next fetch (so only one replica fetches a feed per interval).
                """
                CREATE TABLE vulnerability_feeds (
                  name TEXT PRIMARY KEY,
                  url TEXT NOT NULL,
                  etag TEXT,
                  last_modified TEXT,
                  next_check_at \(big) NOT NULL,
                  checked_at \(big),
                  current_at \(big),
                  last_error TEXT)
                """,
            ]
        },
    ])
}
