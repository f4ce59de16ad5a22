extension Migrations {
    /// The generic leased-job table behind `JobQueueDriver` (version 50). It belongs with the job
    /// queue driver in Sources/Registry/Jobs and moves with it when the database handle gets its
    /// own module.
    static let jobs: [Migration] = [
        Migration(version: 50, name: "jobs") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                // One row per job. A job is `ready` until it is done or dead (given up); a claim
                // is a lease on a ready row (`claim_token`, `lease_until`) that every outcome is
                // conditional on, so a consumer that lost its claim cannot finish the job.
                // `attempts` counts claims. `payload` is JSON for the queue's handler;
                // `ordering_key` serializes jobs of one key (one claimed at a time, in id order);
                // `reference` names what the job is about, so it can be cancelled.
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
    ]
}
