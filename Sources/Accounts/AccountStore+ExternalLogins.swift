import Foundation
import SlipwayCore
import SQLKit

/// A provider identity linked to a user: who the issuer says the person is (`sub`), and under
/// which configured provider name (`service`) it was linked.
public struct ExternalLogin: Sendable, Equatable {
    public let service: String
    public let issuer: String
    public let subject: String
    public let createdAt: Int64
}

/// An OIDC authorization request in flight (see migration 7): what the callback must check.
public struct OIDCAuthorizationRecord: Sendable, Equatable {
    public let provider: String
    public let nonce: String
    public let codeVerifier: String
    public let returnPath: String
    /// Set when a signed-in user is linking a provider rather than signing in.
    public let linkUserID: Int64?

    public init(provider: String, nonce: String, codeVerifier: String, returnPath: String, linkUserID: Int64?) {
        self.provider = provider
        self.nonce = nonce
        self.codeVerifier = codeVerifier
        self.returnPath = returnPath
        self.linkUserID = linkUserID
    }
}

/// A verified provider identity that has no user yet: the first sign-in, until the person
/// confirms a username.
public struct OIDCSignupRecord: Sendable, Equatable {
    public let provider: String
    public let issuer: String
    public let subject: String
    public let email: String?
    public let suggestedName: String
    /// The provider's groups claim at this sign-in (team sync); nil when not known.
    public let groups: [String]?

    public init(provider: String, issuer: String, subject: String, email: String?, suggestedName: String, groups: [String]? = nil) {
        self.provider = provider
        self.issuer = issuer
        self.subject = subject
        self.email = email
        self.suggestedName = suggestedName
        self.groups = groups
    }
}

/// Why a provider identity could not be linked.
public enum ExternalLoginConflict: Error, Sendable, Equatable {
    /// The issuer's `sub` is already linked to another user.
    case linkedToAnotherUser
    /// The user already has an identity from this issuer.
    case userAlreadyLinked
    /// Unlinking it would leave the user no way to sign in on the web.
    case lastWayIn
}

extension AccountStore {
    /// The enabled user the identity is linked to.
    public func user(linkedTo issuer: String, subject: String) async throws -> Namespace? {
        try await database.read { db in
            try await db.raw("""
                SELECT n.id, n.name, n.kind, n.email, n.is_superuser FROM external_logins l
                JOIN namespaces n ON n.id = l.user_id
                WHERE l.issuer = \(bind: issuer) AND l.subject = \(bind: subject) AND n.enabled <> 0
                """).first().map(Self.namespace(from:))
        }
    }

    /// Whether the identity is linked to any user, enabled or not.
    public func isExternalLoginLinked(issuer: String, subject: String) async throws -> Bool {
        try await database.read { db in
            try await db.raw("SELECT id FROM external_logins WHERE issuer = \(bind: issuer) AND subject = \(bind: subject)").first() != nil
        }
    }

    public func externalLogins(userID: Int64) async throws -> [ExternalLogin] {
        try await database.read { db in
            try await db.raw("""
                SELECT service, issuer, subject, created_at FROM external_logins WHERE user_id = \(bind: userID) ORDER BY id
                """).all().map { row in
                ExternalLogin(service: try row.string("service"), issuer: try row.string("issuer"), subject: try row.string("subject"),
                              createdAt: try row.int64("created_at"))
            }
        }
    }

    /// Links the identity to an existing user.
    public func linkExternalLogin(userID: Int64, service: String, issuer: String, subject: String) async throws {
        try await database.transaction { db in
            try await Self.link(userID: userID, service: service, issuer: issuer, subject: subject, in: db)
        }
    }

    /// Removes the user's identity linked under the provider name `service`; nil when there was
    /// none. Refused (`ExternalLoginConflict.lastWayIn`) when it is the only way the user signs
    /// in on the web: no password and no other linked identity.
    public func unlinkExternalLogin(userID: Int64, service: String) async throws -> ExternalLogin? {
        try await database.transaction { db in
            guard let row = try await db.raw("""
                DELETE FROM external_logins WHERE user_id = \(bind: userID) AND service = \(bind: service)
                RETURNING service, issuer, subject, created_at
                """).first() else { return nil }
            let others = try await db.raw("SELECT id FROM external_logins WHERE user_id = \(bind: userID) LIMIT 1").first()
            let password = try await db.raw("SELECT password_hash FROM namespaces WHERE id = \(bind: userID)").first()?
                .optionalString("password_hash")
            if others == nil, password == nil { throw ExternalLoginConflict.lastWayIn }
            return ExternalLogin(service: try row.string("service"), issuer: try row.string("issuer"), subject: try row.string("subject"),
                                 createdAt: try row.int64("created_at"))
        }
    }

    /// Inserts the link; the unique constraints decide races, never a read before the write.
    static func link(userID: Int64, service: String, issuer: String, subject: String, in db: any SQLDatabase) async throws {
        let inserted = try await db.raw("""
            INSERT INTO external_logins (user_id, service, issuer, subject, created_at)
            VALUES (\(bind: userID), \(bind: service), \(bind: issuer), \(bind: subject), \(bind: Clock.nowMillis()))
            ON CONFLICT DO NOTHING RETURNING id
            """).first()
        guard inserted == nil else { return }
        let owner = try await db.raw("SELECT user_id FROM external_logins WHERE issuer = \(bind: issuer) AND subject = \(bind: subject)").first()
        if let owner, try owner.int64("user_id") != userID { throw ExternalLoginConflict.linkedToAnotherUser }
        if owner == nil { throw ExternalLoginConflict.userAlreadyLinked }
        // Linked to this user already: nothing to do.
    }

    // MARK: Authorization requests

    public func saveOIDCAuthorization(stateHash: String, _ record: OIDCAuthorizationRecord, expiresAt: Int64) async throws {
        try await database.transaction { db in
            // Abandoned requests go when new ones come.
            try await db.raw("DELETE FROM oidc_authorizations WHERE expires_at <= \(bind: Clock.nowMillis())").run()
            try await db.raw("""
                INSERT INTO oidc_authorizations (state_hash, provider, nonce, code_verifier, return_path, link_user_id, expires_at)
                VALUES (\(bind: stateHash), \(bind: record.provider), \(bind: record.nonce), \(bind: record.codeVerifier),
                        \(bind: record.returnPath), \(bind: record.linkUserID), \(bind: expiresAt))
                """).run()
        }
    }

    /// Removes and returns the unexpired request of this state: a second call with the same
    /// state (a replayed callback) gets nil.
    public func takeOIDCAuthorization(stateHash: String) async throws -> OIDCAuthorizationRecord? {
        try await database.transaction { db in
            guard let row = try await db.raw("""
                DELETE FROM oidc_authorizations WHERE state_hash = \(bind: stateHash)
                RETURNING provider, nonce, code_verifier, return_path, link_user_id, expires_at
                """).first(), try row.int64("expires_at") > Clock.nowMillis() else { return nil }
            return OIDCAuthorizationRecord(provider: try row.string("provider"), nonce: try row.string("nonce"),
                                           codeVerifier: try row.string("code_verifier"), returnPath: try row.string("return_path"),
                                           linkUserID: try row.optionalInt64("link_user_id"))
        }
    }

    // MARK: First sign-in

    public func saveOIDCSignup(tokenHash: String, _ record: OIDCSignupRecord, expiresAt: Int64) async throws {
        try await database.transaction { db in
            try await db.raw("DELETE FROM oidc_signups WHERE expires_at <= \(bind: Clock.nowMillis())").run()
            try await db.raw("""
                INSERT INTO oidc_signups (token_hash, provider, issuer, subject, email, suggested_name, groups, expires_at)
                VALUES (\(bind: tokenHash), \(bind: record.provider), \(bind: record.issuer), \(bind: record.subject),
                        \(bind: record.email), \(bind: record.suggestedName), \(bind: record.groups.map(Self.groupsJSON)), \(bind: expiresAt))
                """).run()
        }
    }

    public func oidcSignup(tokenHash: String) async throws -> OIDCSignupRecord? {
        try await database.read { db in
            try await db.raw("""
                SELECT provider, issuer, subject, email, suggested_name, groups FROM oidc_signups
                WHERE token_hash = \(bind: tokenHash) AND expires_at > \(bind: Clock.nowMillis())
                """).first().map(Self.signup(from:))
        }
    }

    static func signup(from row: any SQLRow) throws -> OIDCSignupRecord {
        OIDCSignupRecord(provider: try row.string("provider"), issuer: try row.string("issuer"), subject: try row.string("subject"),
                         email: try row.optionalString("email"), suggestedName: try row.string("suggested_name"),
                         groups: try row.optionalString("groups").flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) })
    }

    static func groupsJSON(_ groups: [String]) -> String {
        String(decoding: (try? JSONEncoder().encode(groups)) ?? Data("[]".utf8), as: UTF8.self)
    }

    /// Completes a first sign-in in one transaction: the pending sign-up is consumed, the user
    /// (without a password) created and the identity linked. A taken name (`alreadyExists`)
    /// rolls everything back, so the person can pick another one.
    public func createUser(fromSignup tokenHash: String, name: String, email: String?, superuser: Bool) async throws -> (Namespace, OIDCSignupRecord)? {
        try await database.transaction { db in
            guard let row = try await db.raw("""
                DELETE FROM oidc_signups WHERE token_hash = \(bind: tokenHash)
                RETURNING provider, issuer, subject, email, suggested_name, groups, expires_at
                """).first(), try row.int64("expires_at") > Clock.nowMillis() else { return nil }
            let signup = try Self.signup(from: row)
            let user = try await Self.createUser(name: name, passwordHash: nil, email: email, superuser: superuser, in: db)
            try await Self.link(userID: user.id, service: signup.provider, issuer: signup.issuer, subject: signup.subject, in: db)
            return (user, signup)
        }
    }
}
