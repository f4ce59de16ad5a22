import Foundation
import SlipwayCore
import SQLKit

/// Credentials that stand in for a password: app-specific tokens (a user's registry/CLI
/// password, also an API bearer), OAuth applications of organizations and the scoped access
/// tokens they issue (rows of `api_tokens` with an `application_id`), and repository delegate
/// tokens (`$token`, one repository, one role). Every secret is stored only as a SHA-256 hash,
/// except OAuth client secrets, which are sealed because Quay shows them to admins again.

public struct AppTokenRecord: Sendable, Equatable {
    public let id: Int64
    public let uuid: String
    public let userID: Int64
    public let title: String
    public let createdAt: Int64
    public let lastAccessed: Int64?
    public let expiration: Int64?
}

public struct OAuthApplicationRecord: Sendable, Equatable {
    public let id: Int64
    public let organizationID: Int64
    public let clientID: String
    public let clientSecretSealed: String
    public let name: String
    public let redirectURI: String
    public let applicationURI: String
    public let description: String
    public let avatarEmail: String?
}

public struct RepositoryTokenRecord: Sendable, Equatable {
    public let id: Int64
    public let uuid: String
    public let repositoryID: Int64
    public let friendlyName: String
    public let role: Role
    public let kind: String
    public let createdAt: Int64
    public let expiresAt: Int64?
}

// MARK: App-specific tokens

extension AccountStore {
    static let appTokenColumns = "id, uuid, user_id, title, created_at, last_accessed, expiration"

    static func appToken(from row: any SQLRow) throws -> AppTokenRecord {
        AppTokenRecord(id: try row.int64("id"), uuid: try row.string("uuid"), userID: try row.int64("user_id"),
                       title: try row.string("title"), createdAt: try row.int64("created_at"),
                       lastAccessed: try row.optionalInt64("last_accessed"), expiration: try row.optionalInt64("expiration"))
    }

    public func createAppToken(userID: Int64, title: String, tokenHash: String, expiration: Int64? = nil) async throws -> AppTokenRecord {
        try await database.transaction { db in
            let row = try await db.raw("""
                INSERT INTO app_tokens (uuid, user_id, title, token_hash, created_at, expiration)
                VALUES (\(bind: UUID().uuidString.lowercased()), \(bind: userID), \(bind: title), \(bind: tokenHash),
                        \(bind: Clock.nowMillis()), \(bind: expiration))
                RETURNING \(unsafeRaw: Self.appTokenColumns)
                """).first()!
            return try Self.appToken(from: row)
        }
    }

    public func appTokens(userID: Int64) async throws -> [AppTokenRecord] {
        try await database.read { db in
            try await db.raw("""
                SELECT \(unsafeRaw: Self.appTokenColumns) FROM app_tokens WHERE user_id = \(bind: userID) ORDER BY created_at, id
                """).all().map(Self.appToken(from:))
        }
    }

    /// One of the user's tokens; another user's uuid is simply not found.
    public func appToken(userID: Int64, uuid: String) async throws -> AppTokenRecord? {
        try await database.read { db in
            try await db.raw("""
                SELECT \(unsafeRaw: Self.appTokenColumns) FROM app_tokens WHERE user_id = \(bind: userID) AND uuid = \(bind: uuid)
                """).first().map(Self.appToken(from:))
        }
    }

    /// Returns false when the user has no token with that uuid.
    public func deleteAppToken(userID: Int64, uuid: String) async throws -> Bool {
        try await database.transaction { db in
            try await db.raw("""
                DELETE FROM app_tokens WHERE user_id = \(bind: userID) AND uuid = \(bind: uuid) RETURNING id
                """).first() != nil
        }
    }

    /// The user an unexpired app token belongs to. Records the use (at most once a minute, and
    /// best effort: a failed bookkeeping write never fails the sign-in).
    public func userForAppToken(hash: String) async throws -> Namespace? {
        let now = Clock.nowMillis()
        let found: (Namespace, Int64, Int64?)? = try await database.read { db in
            guard let row = try await db.raw("""
                SELECT n.id, n.name, n.kind, n.email, n.is_superuser, t.id AS token_id, t.last_accessed, t.expiration
                FROM app_tokens t JOIN namespaces n ON n.id = t.user_id
                WHERE t.token_hash = \(bind: hash) AND n.kind = 'user' AND n.enabled <> 0
                """).first() else { return nil }
            if let expiration = try row.optionalInt64("expiration"), expiration <= now { return nil }
            return (try Self.namespace(from: row), try row.int64("token_id"), try row.optionalInt64("last_accessed"))
        }
        guard let (user, tokenID, lastAccessed) = found else { return nil }
        if lastAccessed.map({ now - $0 > 60_000 }) ?? true {
            _ = try? await database.transaction { db in
                try await db.raw("UPDATE app_tokens SET last_accessed = \(bind: now) WHERE id = \(bind: tokenID)").run()
            }
        }
        return user
    }
}

// MARK: OAuth applications and their access tokens

extension AccountStore {
    static let oauthApplicationColumns =
        "id, org_id, client_id, client_secret_sealed, name, redirect_uri, application_uri, description, avatar_email"

    static func oauthApplication(from row: any SQLRow) throws -> OAuthApplicationRecord {
        OAuthApplicationRecord(id: try row.int64("id"), organizationID: try row.int64("org_id"), clientID: try row.string("client_id"),
                               clientSecretSealed: try row.string("client_secret_sealed"), name: try row.string("name"),
                               redirectURI: try row.string("redirect_uri"), applicationURI: try row.string("application_uri"),
                               description: try row.string("description"), avatarEmail: try row.optionalString("avatar_email"))
    }

    public struct OAuthApplicationFields: Sendable {
        public var name: String
        public var redirectURI: String
        public var applicationURI: String
        public var description: String
        public var avatarEmail: String?

        public init(name: String, redirectURI: String, applicationURI: String, description: String, avatarEmail: String?) {
            self.name = name
            self.redirectURI = redirectURI
            self.applicationURI = applicationURI
            self.description = description
            self.avatarEmail = avatarEmail
        }
    }

    public func createOAuthApplication(organizationID: Int64, clientID: String, clientSecretSealed: String,
                                       _ fields: OAuthApplicationFields) async throws -> OAuthApplicationRecord {
        try await database.transaction { db in
            guard let row = try await db.raw("""
                INSERT INTO oauth_applications (org_id, client_id, client_secret_sealed, name, redirect_uri, application_uri,
                                                description, avatar_email, created_at)
                VALUES (\(bind: organizationID), \(bind: clientID), \(bind: clientSecretSealed), \(bind: fields.name),
                        \(bind: fields.redirectURI), \(bind: fields.applicationURI), \(bind: fields.description),
                        \(bind: fields.avatarEmail), \(bind: Clock.nowMillis()))
                ON CONFLICT (client_id) DO NOTHING
                RETURNING \(unsafeRaw: Self.oauthApplicationColumns)
                """).first() else {
                throw DomainError.alreadyExists("an OAuth application with this client id already exists")
            }
            return try Self.oauthApplication(from: row)
        }
    }

    public func oauthApplications(organizationID: Int64) async throws -> [OAuthApplicationRecord] {
        try await database.read { db in
            try await db.raw("""
                SELECT \(unsafeRaw: Self.oauthApplicationColumns) FROM oauth_applications
                WHERE org_id = \(bind: organizationID) ORDER BY name, id
                """).all().map(Self.oauthApplication(from:))
        }
    }

    /// The organization's application with that client id; another organization's is not found.
    public func oauthApplication(organizationID: Int64, clientID: String) async throws -> OAuthApplicationRecord? {
        try await database.read { db in
            try await db.raw("""
                SELECT \(unsafeRaw: Self.oauthApplicationColumns) FROM oauth_applications
                WHERE org_id = \(bind: organizationID) AND client_id = \(bind: clientID)
                """).first().map(Self.oauthApplication(from:))
        }
    }

    public func updateOAuthApplication(organizationID: Int64, clientID: String, _ fields: OAuthApplicationFields) async throws -> OAuthApplicationRecord? {
        try await database.transaction { db in
            try await db.raw("""
                UPDATE oauth_applications SET name = \(bind: fields.name), redirect_uri = \(bind: fields.redirectURI),
                  application_uri = \(bind: fields.applicationURI), description = \(bind: fields.description),
                  avatar_email = \(bind: fields.avatarEmail)
                WHERE org_id = \(bind: organizationID) AND client_id = \(bind: clientID)
                RETURNING \(unsafeRaw: Self.oauthApplicationColumns)
                """).first().map(Self.oauthApplication(from:))
        }
    }

    /// Deletes the application; its access tokens go with it (cascade), so they stop working at once.
    public func deleteOAuthApplication(organizationID: Int64, clientID: String) async throws -> Bool {
        try await database.transaction { db in
            try await db.raw("""
                DELETE FROM oauth_applications WHERE org_id = \(bind: organizationID) AND client_id = \(bind: clientID) RETURNING id
                """).first() != nil
        }
    }

    /// An access token issued by an application, acting as `userID` capped by `scopes`.
    public func createOAuthToken(applicationID: Int64, userID: Int64, tokenHash: String, scopes: [String], description: String,
                                 expiresAt: Int64?) async throws -> String {
        try await database.transaction { db in
            let uuid = UUID().uuidString.lowercased()
            try await db.raw("""
                INSERT INTO api_tokens (token_hash, user_id, scopes, description, created_at, expires_at, application_id, uuid)
                VALUES (\(bind: tokenHash), \(bind: userID), \(bind: scopes.joined(separator: " ")), \(bind: description),
                        \(bind: Clock.nowMillis()), \(bind: expiresAt), \(bind: applicationID), \(bind: uuid))
                """).run()
            return uuid
        }
    }

    /// Revokes one token of the application. Returns false when the application has no such token.
    public func deleteOAuthToken(applicationID: Int64, uuid: String) async throws -> Bool {
        try await database.transaction { db in
            try await db.raw("""
                DELETE FROM api_tokens WHERE application_id = \(bind: applicationID) AND uuid = \(bind: uuid) RETURNING id
                """).first() != nil
        }
    }
}

// MARK: Repository delegate tokens

extension AccountStore {
    static let repositoryTokenColumns = "id, uuid, repository_id, friendly_name, role, kind, created_at, expires_at"

    static func repositoryToken(from row: any SQLRow) throws -> RepositoryTokenRecord {
        RepositoryTokenRecord(id: try row.int64("id"), uuid: try row.string("uuid"), repositoryID: try row.int64("repository_id"),
                              friendlyName: try row.string("friendly_name"), role: Role(rawValue: try row.string("role")) ?? .read,
                              kind: try row.string("kind"), createdAt: try row.int64("created_at"), expiresAt: try row.optionalInt64("expires_at"))
    }

    public func createRepositoryToken(repositoryID: Int64, codeHash: String, friendlyName: String, role: Role,
                                      kind: String = "delegate", expiresAt: Int64? = nil) async throws -> RepositoryTokenRecord {
        try await database.transaction { db in
            let row = try await db.raw("""
                INSERT INTO repository_tokens (uuid, repository_id, code_hash, friendly_name, role, kind, created_at, expires_at)
                VALUES (\(bind: UUID().uuidString.lowercased()), \(bind: repositoryID), \(bind: codeHash), \(bind: friendlyName),
                        \(bind: role.rawValue), \(bind: kind), \(bind: Clock.nowMillis()), \(bind: expiresAt))
                RETURNING \(unsafeRaw: Self.repositoryTokenColumns)
                """).first()!
            return try Self.repositoryToken(from: row)
        }
    }

    public func repositoryTokens(repositoryID: Int64, kind: String = "delegate") async throws -> [RepositoryTokenRecord] {
        try await database.read { db in
            try await db.raw("""
                SELECT \(unsafeRaw: Self.repositoryTokenColumns) FROM repository_tokens
                WHERE repository_id = \(bind: repositoryID) AND kind = \(bind: kind) ORDER BY created_at, id
                """).all().map(Self.repositoryToken(from:))
        }
    }

    public func repositoryToken(repositoryID: Int64, uuid: String, kind: String = "delegate") async throws -> RepositoryTokenRecord? {
        try await database.read { db in
            try await db.raw("""
                SELECT \(unsafeRaw: Self.repositoryTokenColumns) FROM repository_tokens
                WHERE repository_id = \(bind: repositoryID) AND uuid = \(bind: uuid) AND kind = \(bind: kind)
                """).first().map(Self.repositoryToken(from:))
        }
    }

    public func setRepositoryTokenRole(repositoryID: Int64, uuid: String, role: Role, kind: String = "delegate") async throws -> RepositoryTokenRecord? {
        try await database.transaction { db in
            try await db.raw("""
                UPDATE repository_tokens SET role = \(bind: role.rawValue)
                WHERE repository_id = \(bind: repositoryID) AND uuid = \(bind: uuid) AND kind = \(bind: kind)
                RETURNING \(unsafeRaw: Self.repositoryTokenColumns)
                """).first().map(Self.repositoryToken(from:))
        }
    }

    public func deleteRepositoryToken(repositoryID: Int64, uuid: String, kind: String = "delegate") async throws -> Bool {
        try await database.transaction { db in
            try await db.raw("""
                DELETE FROM repository_tokens
                WHERE repository_id = \(bind: repositoryID) AND uuid = \(bind: uuid) AND kind = \(bind: kind) RETURNING id
                """).first() != nil
        }
    }

    /// The live token with this code (any kind), for `$token` sign-in. Tokens of repositories
    /// being deleted no longer sign in.
    public func repositoryToken(codeHash: String) async throws -> RepositoryTokenRecord? {
        try await database.read { db in
            guard let row = try await db.raw("""
                SELECT t.id, t.uuid, t.repository_id, t.friendly_name, t.role, t.kind, t.created_at, t.expires_at
                FROM repository_tokens t JOIN repositories r ON r.id = t.repository_id
                WHERE t.code_hash = \(bind: codeHash) AND r.state <> 'MARKED_FOR_DELETION'
                """).first() else { return nil }
            let token = try Self.repositoryToken(from: row)
            if let expires = token.expiresAt, expires <= Clock.nowMillis() { return nil }
            return token
        }
    }
}

// MARK: Liveness of issued credentials

extension AccountStore {
    /// Whether the namespace (user, organization or robot) still exists and is enabled (a
    /// robot's owner too).
    public func namespaceExists(id: Int64) async throws -> Bool {
        try await database.read { db in
            try await db.raw("""
                SELECT n.id FROM namespaces n WHERE n.id = \(bind: id) AND n.enabled <> 0
                  AND NOT EXISTS (SELECT 1 FROM namespaces o WHERE o.id = n.owner_id AND o.enabled = 0)
                """).first() != nil
        }
    }

    /// Whether the repository (delegate) token still exists.
    public func repositoryTokenExists(uuid: String) async throws -> Bool {
        try await database.read { db in
            try await db.raw("SELECT id FROM repository_tokens WHERE uuid = \(bind: uuid)").first() != nil
        }
    }
}
