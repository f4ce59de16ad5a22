/// SlipwayCore's own tables: the instance keys (`SecretBox`, HMAC keys shared by replicas) and
/// the tombstones of blob bytes awaiting deletion. What the global migrations 1 and 20 created
/// for these tables.
public enum CoreSchema {
    public static let schema = ModuleSchema(module: "core", migrations: [
        ModuleMigration(version: 1, name: "instance keys") { f in
            [
                """
                CREATE TABLE instance_keys (
                  name TEXT PRIMARY KEY,
                  value TEXT NOT NULL,
                  created_at \(f.bigint) NOT NULL)
                """,
            ]
        },
        ModuleMigration(version: 2, name: "blob deletions") { f in
            [
                // Blobs whose rows are gone; their bytes are removed one collector pass later,
                // unless a push brought the blob back in the meantime.
                "CREATE TABLE blob_deletions (digest TEXT PRIMARY KEY, created_at \(f.bigint) NOT NULL)",
            ]
        },
    ])
}
