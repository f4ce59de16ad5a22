import SlipwayCore

/// The scan pipeline's tables. `scan_layers` keeps what each layer digest holds (or why it
/// could not be read), so a layer shared by many images is read once; `scan_manifests` keeps
/// each manifest digest's status, its package list with AddedBy (the image index) and its
/// current report, so re-matching after a feed update never reads layers; `scan_findings`
/// remembers which vulnerabilities were already reported for a manifest (`vulnerability_found`
/// fires once per manifest and vulnerability); `scan_state` holds the vulnerability-data
/// generation the last re-match was queued for.
public enum ScanServiceSchema {
    public static let schema = ModuleSchema(module: "scans", migrations: [
        ModuleMigration(version: 1, name: "scan layers, manifests, findings and state") { f in
            let big = f.bigint
            return [
                """
                CREATE TABLE scan_layers (
                  digest TEXT PRIMARY KEY,
                  status TEXT NOT NULL,
                  contents TEXT,
                  reason TEXT,
                  indexed_at \(big) NOT NULL)
                """,
                // Keyed by digest, not by repository: the same content scans the same, so a
                // manifest pushed to many repositories is scanned once. `repository_id` is where
                // the scan reads the manifest from (the repository it was first stored in).
                """
                CREATE TABLE scan_manifests (
                  digest TEXT PRIMARY KEY,
                  repository_id \(big) NOT NULL,
                  status TEXT NOT NULL,
                  reason TEXT,
                  image_index TEXT,
                  report TEXT,
                  matched_generation TEXT,
                  queued_at \(big) NOT NULL,
                  finished_at \(big))
                """,
                "CREATE INDEX scan_manifests_status ON scan_manifests(status, digest)",
                """
                CREATE TABLE scan_findings (
                  manifest_digest TEXT NOT NULL,
                  vulnerability TEXT NOT NULL,
                  found_at \(big) NOT NULL,
                  PRIMARY KEY (manifest_digest, vulnerability))
                """,
                "CREATE TABLE scan_state (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
            ]
        },
    ])
}
