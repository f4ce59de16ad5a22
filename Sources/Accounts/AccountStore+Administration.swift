import SlipwayCore
import SQLKit

/// What the superuser API reads and changes across every account: the list of users with their
/// enabled flag, all organizations, enabling and disabling users, and the superuser flag that
/// `auth.superUsers` decides.
public struct AdministeredUser: Sendable, Equatable {
    public let user: Namespace
    public let enabled: Bool

    public init(user: Namespace, enabled: Bool) {
        self.user = user
        self.enabled = enabled
    }
}

extension AccountStore {
    /// Makes the stored superuser flag match the configured names (Quay's `SUPER_USERS`). An
    /// empty list leaves the flags as they are: the admin created on first start stays superuser.
    public func applyConfiguredSuperusers(_ names: [String]) async throws {
        guard !names.isEmpty else { return }
        try await database.transaction { db in
            try await db.raw("UPDATE namespaces SET is_superuser = 0 WHERE kind = 'user' AND is_superuser <> 0").run()
            for name in names {
                try await db.raw("UPDATE namespaces SET is_superuser = 1 WHERE kind = 'user' AND name = \(bind: name)").run()
            }
        }
    }

    /// Every user, by name, with whether it may sign in.
    public func administeredUsers() async throws -> [AdministeredUser] {
        try await database.read { db in
            try await db.raw("""
                SELECT \(unsafeRaw: Self.namespaceColumns), enabled FROM namespaces WHERE kind = 'user' ORDER BY name
                """).all().map { AdministeredUser(user: try Self.namespace(from: $0), enabled: try $0.bool("enabled")) }
        }
    }

    public func administeredUser(named name: String) async throws -> AdministeredUser? {
        try await database.read { db in
            try await db.raw("""
                SELECT \(unsafeRaw: Self.namespaceColumns), enabled FROM namespaces WHERE kind = 'user' AND name = \(bind: name)
                """).first().map { AdministeredUser(user: try Self.namespace(from: $0), enabled: try $0.bool("enabled")) }
        }
    }

    /// Enables or disables a user. Disabling the last enabled superuser is refused (nobody could
    /// undo it through the API); the check and the write share one transaction.
    public func setUserEnabled(userID: Int64, _ enabled: Bool) async throws {
        try await database.transaction { db in
            if !enabled {
                // Lock the superusers' rows so two concurrent disables cannot both pass the check.
                try await db.raw("UPDATE namespaces SET enabled = enabled WHERE kind = 'user' AND is_superuser <> 0").run()
                let others = try await db.raw("""
                    SELECT COUNT(*) AS n FROM namespaces
                    WHERE kind = 'user' AND is_superuser <> 0 AND enabled <> 0 AND id <> \(bind: userID)
                    """).first()?.int64("n") ?? 0
                let isSuperuser = try await db.raw("SELECT is_superuser FROM namespaces WHERE id = \(bind: userID)").first()?.bool("is_superuser") ?? false
                if isSuperuser && others == 0 {
                    throw DomainError.conflict("the last enabled superuser cannot be disabled")
                }
            }
            try await db.raw("UPDATE namespaces SET enabled = \(bind: enabled ? 1 : 0) WHERE id = \(bind: userID) AND kind = 'user'").run()
        }
    }

    /// Every organization, by name.
    public func allOrganizations() async throws -> [Namespace] {
        try await database.read { db in
            try await db.raw("SELECT \(unsafeRaw: Self.namespaceColumns) FROM namespaces WHERE kind = 'organization' ORDER BY name")
                .all().map(Self.namespace(from:))
        }
    }
}
