/// SlipwayCore's own tables: the instance keys (`SecretBox`, HMAC keys shared by replicas), the
/// tombstones of blob bytes awaiting deletion and the job queue. What the global migrations 1,
/// 20 and 50 created for these tables.
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
        ModuleMigration(version: 3, name: "jobs") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                // The generic leased-job table behind `JobQueueDriver`. One row per job. A job
                // is `ready` until it is done or dead (given up); a claim is a lease on a ready
                // row (`claim_token`, `lease_until`) that every outcome is conditional on, so a
                // consumer that lost its claim cannot finish the job. `attempts` counts claims.
                // `payload` is JSON for the queue's handler; `ordering_key` serializes jobs of
                // one key (one claimed at a time, in id order); `reference` names what the job
                // is about, so it can be cancelled.
                """
                CREATE TABLE jobs (
                  id \(id),
                  queue TEXT NOT NULL,
                  payload TEXT NOT NULL,
                  ordering_key TEXT,
                  reference TEXT,
                  status TEXT NOT NULL DEFAULT 'ready' CHECK (status IN ('ready', 'done', 'dead')),
                  attempts INTEGER NOT NULL DEFAULT 0,
                  max_attempts INTEGER NOT NULL,
                  next_attempt_at \(big) NOT NULL,
                  lease_until \(big),
                  claim_token TEXT,
                  last_error TEXT,
                  created_at \(big) NOT NULL,
                  finished_at \(big))
                """,
                // Claims walk a queue's ready jobs in id order; finished rows stay out of it.
                "CREATE INDEX jobs_ready ON jobs(queue, id) WHERE status = 'ready'",
                // The head of each ordering key, and whether one of its jobs is claimed.
                "CREATE INDEX jobs_ready_ordering ON jobs(queue, ordering_key, id) WHERE status = 'ready' AND ordering_key IS NOT NULL",
                "CREATE INDEX jobs_reference ON jobs(queue, reference) WHERE reference IS NOT NULL",
                "CREATE INDEX jobs_finished ON jobs(queue, finished_at) WHERE status <> 'ready'",
            ]
        },
    ])
}
