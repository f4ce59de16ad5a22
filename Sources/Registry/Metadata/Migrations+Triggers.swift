extension Migrations {
    /// Build triggers (versions 30–39).
    static let triggers: [Migration] = [
        Migration(version: 30, name: "build triggers") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                // One row per trigger. `config` is the public JSON config (what the API shows,
                // without credentials); every secret is sealed with the instance key: the deploy
                // key's private half, the secret in the webhook URL, and the optional signing
                // secret shared with GitHub/GitLab/Bitbucket. `counters_since` is when the
                // successive-failure counters were last reset (re-enabling resets them).
                """
                CREATE TABLE build_triggers (
                  id \(id),
                  uuid TEXT NOT NULL UNIQUE,
                  repository_id \(big) NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                  service TEXT NOT NULL,
                  connected_user_id \(big) REFERENCES namespaces(id) ON DELETE SET NULL,
                  config TEXT NOT NULL DEFAULT '{}',
                  public_key TEXT,
                  private_key_sealed TEXT,
                  url_secret_sealed TEXT,
                  signing_secret_sealed TEXT,
                  pull_robot_id \(big) REFERENCES namespaces(id) ON DELETE SET NULL,
                  is_active INTEGER NOT NULL DEFAULT 0,
                  enabled INTEGER NOT NULL DEFAULT 1,
                  disabled_reason TEXT,
                  disabled_at \(big),
                  counters_since \(big) NOT NULL DEFAULT 0,
                  created_at \(big) NOT NULL,
                  activated_at \(big))
                """,
                "CREATE INDEX build_triggers_repository ON build_triggers(repository_id)",
                // What happened to each webhook and manual run that reached a trigger (queued,
                // skipped and why, refused), so users can see that a push arrived even when
                // nothing was built. Capped per trigger. `delivery_id` (GitHub's
                // X-GitHub-Delivery and the like) makes a redelivered webhook build once.
                """
                CREATE TABLE trigger_activity (
                  id \(id),
                  trigger_id \(big) NOT NULL REFERENCES build_triggers(id) ON DELETE CASCADE,
                  source TEXT NOT NULL,
                  outcome TEXT NOT NULL,
                  reason TEXT,
                  ref TEXT,
                  commit_sha TEXT,
                  build_uuid TEXT,
                  delivery_id TEXT,
                  created_at \(big) NOT NULL)
                """,
                "CREATE INDEX trigger_activity_trigger ON trigger_activity(trigger_id, id)",
                "CREATE UNIQUE INDEX trigger_activity_delivery ON trigger_activity(trigger_id, delivery_id)",
                // Builds of one trigger, newest first (trigger build lists, failure counters).
                "CREATE INDEX builds_trigger ON builds(trigger_id, queued_at)",
            ]
        },
        Migration(version: 31, name: "trigger failure counters index") { _ in
            // Every webhook reads its trigger's newest finished builds (the auto-disable
            // counters): an index in that order keeps it one short range read however many
            // builds the trigger has run.
            ["CREATE INDEX builds_trigger_finished ON builds(trigger_id, finished_at)"]
        },
        Migration(version: 32, name: "trigger ssh host keys") { _ in
            // The ssh host keys a trigger's clones trust, as JSON ({endpoint, keys, source,
            // recorded_at, error}): read from the git server when the trigger is analysed,
            // activated or its source changes, pasted by the user, or (for triggers activated
            // before this column existed, and when the server could not reach the git host
            // then) trusted on first use by the first build. NULL: nothing recorded yet.
            ["ALTER TABLE build_triggers ADD COLUMN ssh_host_keys TEXT"]
        },
    ]
}
