import SlipwayCore

/// The triggers module's tables: build triggers and their activity. Version 1 is what the
/// global migration 30 created for these tables; version 2 (ssh host keys) came after.
public enum TriggersSchema {
    public static let schema = ModuleSchema(module: "triggers", migrations: [
        ModuleMigration(version: 1, name: "build triggers") { f in
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
            ]
        },
        ModuleMigration(version: 2, name: "trigger ssh host keys") { _ in
            // The ssh host keys a trigger's clones trust, as JSON ({endpoint, keys, source,
            // recorded_at, error}): read from the git server when the trigger is analysed,
            // activated or its source changes, pasted by the user, or (for triggers activated
            // before this column existed, and when the server could not reach the git host
            // then) trusted on first use by the first build. NULL: nothing recorded yet.
            ["ALTER TABLE build_triggers ADD COLUMN ssh_host_keys TEXT"]
        },
        ModuleMigration(version: 3, name: "trigger build secrets") { _ in
            // The secrets every build of the trigger gets (`config.build_secrets`), sealed with
            // the instance key under the trigger's uuid; the config keeps only their ids.
            ["ALTER TABLE build_triggers ADD COLUMN build_secrets_sealed TEXT"]
        },
    ])
}
