import SlipwayCore

/// The accounts module's tables: namespaces (users, organizations, robots), teams and their
/// members and invitations, repositories as access-controlled resources (row, permissions,
/// stars), default permissions, tokens and sessions. Versions 1-3 are what the global
/// migrations 1, 2 and 20 created for these tables.
public enum AccountsSchema {
    public static let schema = ModuleSchema(module: "accounts", migrations: [
        ModuleMigration(version: 1, name: "namespaces, teams, repositories and API tokens") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                """
                CREATE TABLE namespaces (
                  id \(id),
                  name TEXT NOT NULL UNIQUE,
                  kind TEXT NOT NULL,
                  email TEXT,
                  password_hash TEXT,
                  is_superuser INTEGER NOT NULL DEFAULT 0,
                  tag_expiration_s \(big) NOT NULL DEFAULT 1209600,
                  created_at \(big) NOT NULL)
                """,
                """
                CREATE TABLE teams (
                  id \(id),
                  org_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  name TEXT NOT NULL,
                  role TEXT NOT NULL,
                  description TEXT NOT NULL DEFAULT '',
                  created_at \(big) NOT NULL,
                  UNIQUE (org_id, name))
                """,
                """
                CREATE TABLE team_members (
                  team_id \(big) NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                  user_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  PRIMARY KEY (team_id, user_id))
                """,
                "CREATE INDEX team_members_user ON team_members(user_id)",
                """
                CREATE TABLE repositories (
                  id \(id),
                  namespace_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  name TEXT NOT NULL,
                  visibility TEXT NOT NULL,
                  description TEXT NOT NULL DEFAULT '',
                  state TEXT NOT NULL DEFAULT 'NORMAL',
                  created_at \(big) NOT NULL,
                  UNIQUE (namespace_id, name))
                """,
                """
                CREATE TABLE repository_permissions (
                  repository_id \(big) NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                  user_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  role TEXT NOT NULL,
                  PRIMARY KEY (repository_id, user_id))
                """,
                "CREATE INDEX repository_permissions_user ON repository_permissions(user_id)",
                """
                CREATE TABLE api_tokens (
                  id \(id),
                  token_hash TEXT NOT NULL UNIQUE,
                  user_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  scopes TEXT NOT NULL,
                  description TEXT NOT NULL DEFAULT '',
                  created_at \(big) NOT NULL,
                  expires_at \(big))
                """,
            ]
        },
        ModuleMigration(version: 2, name: "robots, team permissions, invitations, prototypes and tokens") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                // Robots are namespaces of kind 'robot' named `<owner>+<short>`, owned by a user or organization.
                "ALTER TABLE namespaces ADD COLUMN owner_id \(big) REFERENCES namespaces(id) ON DELETE CASCADE",
                "ALTER TABLE namespaces ADD COLUMN description TEXT NOT NULL DEFAULT ''",
                // Robot tokens must be re-displayable: AES-GCM sealed with the instance key, never plain.
                "ALTER TABLE namespaces ADD COLUMN robot_token_sealed TEXT",
                "ALTER TABLE namespaces ADD COLUMN robot_token_hash TEXT",
                "ALTER TABLE namespaces ADD COLUMN unstructured_metadata TEXT",
                "ALTER TABLE namespaces ADD COLUMN last_accessed \(big)",
                "CREATE INDEX namespaces_owner ON namespaces(owner_id)",
                """
                CREATE TABLE repository_team_permissions (
                  repository_id \(big) NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                  team_id \(big) NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                  role TEXT NOT NULL,
                  PRIMARY KEY (repository_id, team_id))
                """,
                "CREATE INDEX repository_team_permissions_team ON repository_team_permissions(team_id)",
                """
                CREATE TABLE team_invites (
                  id \(id),
                  team_id \(big) NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                  user_id \(big) REFERENCES namespaces(id) ON DELETE CASCADE,
                  email TEXT,
                  code_hash TEXT NOT NULL UNIQUE,
                  inviter_id \(big) REFERENCES namespaces(id) ON DELETE SET NULL,
                  created_at \(big) NOT NULL)
                """,
                """
                CREATE TABLE prototypes (
                  id \(id),
                  uuid TEXT NOT NULL UNIQUE,
                  org_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  activating_user_id \(big) REFERENCES namespaces(id) ON DELETE CASCADE,
                  delegate_user_id \(big) REFERENCES namespaces(id) ON DELETE CASCADE,
                  delegate_team_id \(big) REFERENCES teams(id) ON DELETE CASCADE,
                  role TEXT NOT NULL,
                  created_at \(big) NOT NULL)
                """,
                """
                CREATE TABLE app_tokens (
                  id \(id),
                  uuid TEXT NOT NULL UNIQUE,
                  user_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  title TEXT NOT NULL,
                  token_hash TEXT NOT NULL UNIQUE,
                  created_at \(big) NOT NULL,
                  last_accessed \(big),
                  expiration \(big))
                """,
                """
                CREATE TABLE oauth_applications (
                  id \(id),
                  org_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  client_id TEXT NOT NULL UNIQUE,
                  client_secret_sealed TEXT NOT NULL,
                  name TEXT NOT NULL,
                  redirect_uri TEXT NOT NULL DEFAULT '',
                  application_uri TEXT NOT NULL DEFAULT '',
                  description TEXT NOT NULL DEFAULT '',
                  avatar_email TEXT,
                  created_at \(big) NOT NULL)
                """,
                "ALTER TABLE api_tokens ADD COLUMN application_id \(big) REFERENCES oauth_applications(id) ON DELETE CASCADE",
                "ALTER TABLE api_tokens ADD COLUMN uuid TEXT",
                """
                CREATE TABLE repository_tokens (
                  id \(id),
                  uuid TEXT NOT NULL UNIQUE,
                  repository_id \(big) NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                  code_hash TEXT NOT NULL UNIQUE,
                  friendly_name TEXT NOT NULL DEFAULT '',
                  role TEXT NOT NULL,
                  kind TEXT NOT NULL DEFAULT 'delegate',
                  created_at \(big) NOT NULL,
                  expires_at \(big))
                """,
                """
                CREATE TABLE sessions (
                  id_hash TEXT PRIMARY KEY,
                  user_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  csrf_token TEXT NOT NULL,
                  created_at \(big) NOT NULL,
                  expires_at \(big) NOT NULL)
                """,
                "CREATE INDEX sessions_user ON sessions(user_id)",
            ]
        },
        ModuleMigration(version: 3, name: "stars") { f in
            let big = f.bigint
            return [
                """
                CREATE TABLE stars (
                  user_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  repository_id \(big) NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                  created_at \(big) NOT NULL,
                  PRIMARY KEY (user_id, repository_id))
                """,
            ]
        },
        ModuleMigration(version: 4, name: "repository view") { _ in
            [
                // The read-only view of repositories that other modules' queries join (by id) to
                // show a repository's path, filter by its state or apply its namespace's
                // time-machine window. Other modules read these columns, never the tables.
                """
                CREATE VIEW repository_view AS
                SELECT r.id, r.namespace_id, n.name AS namespace, r.name, r.visibility, r.state, n.tag_expiration_s
                FROM repositories r JOIN namespaces n ON n.id = r.namespace_id
                """,
            ]
        },
        ModuleMigration(version: 5, name: "disabled users") { _ in
            // A superuser disables an account (Quay `enabled`): it keeps its data but no
            // credential of it, or of its robots, authenticates any more.
            ["ALTER TABLE namespaces ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1"]
        },
        ModuleMigration(version: 6, name: "robot federation") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                // Keyless robots (Quay 3.13 robot federation): which OIDC identities may exchange
                // their token for a short-lived robot token. `conditions` is a JSON object of
                // claim name -> required string value (Slipway's addition to Quay's issuer+subject).
                """
                CREATE TABLE robot_federations (
                  id \(id),
                  robot_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  issuer TEXT NOT NULL,
                  subject TEXT NOT NULL,
                  audience TEXT,
                  conditions TEXT,
                  created_at \(big) NOT NULL)
                """,
                "CREATE INDEX robot_federations_robot ON robot_federations(robot_id)",
                // The short-lived tokens an exchange issued; only their hash is kept.
                """
                CREATE TABLE robot_federated_tokens (
                  id \(id),
                  robot_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  token_hash TEXT NOT NULL UNIQUE,
                  issuer TEXT NOT NULL,
                  subject TEXT NOT NULL,
                  created_at \(big) NOT NULL,
                  expires_at \(big) NOT NULL)
                """,
                "CREATE INDEX robot_federated_tokens_robot ON robot_federated_tokens(robot_id)",
            ]
        },
        ModuleMigration(version: 7, name: "external logins (OIDC sign-in)") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                // A provider identity (issuer + sub) belongs to exactly one user, and a user has
                // at most one identity per issuer. `service` is the configured provider name.
                """
                CREATE TABLE external_logins (
                  id \(id),
                  user_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  service TEXT NOT NULL,
                  issuer TEXT NOT NULL,
                  subject TEXT NOT NULL,
                  created_at \(big) NOT NULL,
                  UNIQUE (issuer, subject),
                  UNIQUE (user_id, issuer))
                """,
                // Authorization requests in flight: the hash of `state` (the browser holds the
                // value), the nonce and PKCE verifier the callback checks. Deleted when used, so a
                // state (and the code that came with it) is accepted once; they live 10 minutes.
                """
                CREATE TABLE oidc_authorizations (
                  state_hash TEXT PRIMARY KEY,
                  provider TEXT NOT NULL,
                  nonce TEXT NOT NULL,
                  code_verifier TEXT NOT NULL,
                  return_path TEXT NOT NULL,
                  link_user_id \(big) REFERENCES namespaces(id) ON DELETE CASCADE,
                  expires_at \(big) NOT NULL)
                """,
                // A verified identity with no user yet, waiting for its username confirmation
                // (the browser holds the token whose hash is the key).
                """
                CREATE TABLE oidc_signups (
                  token_hash TEXT PRIMARY KEY,
                  provider TEXT NOT NULL,
                  issuer TEXT NOT NULL,
                  subject TEXT NOT NULL,
                  email TEXT,
                  suggested_name TEXT NOT NULL,
                  expires_at \(big) NOT NULL)
                """,
            ]
        },
        ModuleMigration(version: 8, name: "self sign-up") { f in
            let id = f.identityPrimaryKey
            let big = f.bigint
            return [
                // Accounts that existed before, and every account an admin creates, count as
                // verified; a self-created one with `auth.mailVerification` starts at 0.
                "ALTER TABLE namespaces ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 1",
                // The mailed confirmation links: only the code's hash is kept.
                """
                CREATE TABLE email_verifications (
                  code_hash TEXT PRIMARY KEY,
                  user_id \(big) NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
                  email TEXT NOT NULL,
                  expires_at \(big) NOT NULL)
                """,
                // Accounts created per client address, for the per-IP limit (rows older than an
                // hour are deleted as new ones come).
                """
                CREATE TABLE signup_attempts (
                  id \(id),
                  ip TEXT NOT NULL,
                  created_at \(big) NOT NULL)
                """,
                "CREATE INDEX signup_attempts_ip ON signup_attempts(ip, created_at)",
            ]
        },
        ModuleMigration(version: 9, name: "team sync by OIDC group claim; first federated exchanges") { f in
            let big = f.bigint
            return [
                // A team whose membership follows a group claim of one configured provider
                // (`provider` is its `auth.oidc[].name`). `config` is the JSON Quay shows
                // (`{"group_name": ...}`); `last_updated` is when a sign-in last changed members.
                """
                CREATE TABLE team_syncs (
                  team_id \(big) PRIMARY KEY REFERENCES teams(id) ON DELETE CASCADE,
                  provider TEXT NOT NULL,
                  group_name TEXT NOT NULL,
                  config TEXT NOT NULL,
                  last_updated \(big),
                  created_at \(big) NOT NULL)
                """,
                "CREATE INDEX team_syncs_provider ON team_syncs(provider)",
                // The groups the provider named at a first sign-in (JSON array; NULL: unknown),
                // applied when the person confirms their username.
                "ALTER TABLE oidc_signups ADD COLUMN groups TEXT",
                // When a federation entry was first used: its owner is told once, not at every
                // CI run.
                "ALTER TABLE robot_federations ADD COLUMN first_exchanged_at \(big)",
            ]
        },
    ])
}
