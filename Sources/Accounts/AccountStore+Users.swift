import Foundation
import SlipwayCore
import SQLKit

/// The signed-in user's own account: settings, password and e-mail changes, and deletion.

/// Why an account cannot be deleted.
public enum AccountDeletionRefusal: Error, Equatable, Sendable {
    /// The user is the only admin left in these organizations.
    case lastAdmin(organizations: [String])
}

extension AccountStore {
    /// A user (never an organization or robot) by name.
    public func userAccount(named name: String) async throws -> Namespace? {
        try await database.read { db in
            try await db.raw("SELECT \(unsafeRaw: Self.namespaceColumns) FROM namespaces WHERE name = \(bind: name) AND kind = 'user'")
                .first().map(Self.namespace(from:))
        }
    }

    /// The user's time-machine window for deleted tags, in seconds.
    public func userTagExpirationSeconds(userID: Int64) async throws -> Int64 {
        try await database.read { db in
            try await db.raw("SELECT tag_expiration_s FROM namespaces WHERE id = \(bind: userID)").first()?.int64("tag_expiration_s") ?? 1_209_600
        }
    }

    /// Is the address already another user's (case-insensitive)?
    public func userEmailInUse(_ email: String, exceptUserID: Int64) async throws -> Bool {
        try await database.read { db in
            try await db.raw("""
                SELECT id FROM namespaces
                WHERE kind = 'user' AND LOWER(email) = LOWER(\(bind: email)) AND id <> \(bind: exceptUserID)
                """).first() != nil
        }
    }

    /// Applies the given changes (nil = unchanged) in one transaction. A password change ends
    /// every other web session of the user: `keepSessionHash` names the one making the change.
    public func updateAccount(userID: Int64, passwordHash: String? = nil, email: String? = nil, tagExpirationSeconds: Int64? = nil,
                              keepSessionHash: String? = nil) async throws {
        try await database.transaction { db in
            if let passwordHash {
                try await db.raw("UPDATE namespaces SET password_hash = \(bind: passwordHash) WHERE id = \(bind: userID) AND kind = 'user'").run()
                try await db.raw("""
                    DELETE FROM sessions WHERE user_id = \(bind: userID) AND id_hash <> \(bind: keepSessionHash ?? "")
                    """).run()
            }
            if let email {
                try await db.raw("UPDATE namespaces SET email = \(bind: email) WHERE id = \(bind: userID) AND kind = 'user'").run()
            }
            if let tagExpirationSeconds {
                try await db.raw("""
                    UPDATE namespaces SET tag_expiration_s = \(bind: tagExpirationSeconds) WHERE id = \(bind: userID) AND kind = 'user'
                    """).run()
            }
        }
    }

    /// Deletes a user and, through the schema's cascades, their sessions, API/app/OAuth tokens,
    /// robots, repositories (with their tags, manifests and delegate tokens), team memberships
    /// and grants. Refused while the user is the last admin of an organization, which would be
    /// left without anyone able to manage it.
    public func deleteAccount(userID: Int64) async throws {
        try await database.transaction { db in
            // Touch the organizations the user administers first: this takes their row locks, so two
            // admins deleting themselves at once cannot both see the other as the remaining admin.
            try await db.raw("""
                UPDATE namespaces SET kind = kind WHERE kind = 'organization' AND id IN (
                  SELECT t.org_id FROM teams t JOIN team_members m ON m.team_id = t.id
                  WHERE t.role = 'admin' AND m.user_id = \(bind: userID))
                """).run()
            let stranded = try await db.raw("""
                SELECT o.name FROM namespaces o
                WHERE o.kind = 'organization'
                  AND EXISTS (SELECT 1 FROM teams t JOIN team_members m ON m.team_id = t.id
                              WHERE t.org_id = o.id AND t.role = 'admin' AND m.user_id = \(bind: userID))
                  AND NOT EXISTS (SELECT 1 FROM teams t JOIN team_members m ON m.team_id = t.id JOIN namespaces u ON u.id = m.user_id
                                  WHERE t.org_id = o.id AND t.role = 'admin' AND m.user_id <> \(bind: userID) AND u.kind = 'user')
                ORDER BY o.name
                """).all().map { try $0.string("name") }
            if !stranded.isEmpty { throw AccountDeletionRefusal.lastAdmin(organizations: stranded) }
            try await db.raw("DELETE FROM namespaces WHERE id = \(bind: userID) AND kind = 'user'").run()
        }
    }
}

extension AccountStore {
    /// Whether any user exists (bootstrap creates the first admin otherwise).
    public func hasAnyUser() async throws -> Bool {
        try await database.read { db in
            try await db.raw("SELECT id FROM namespaces WHERE kind = 'user' LIMIT 1").first() != nil
        }
    }
}
