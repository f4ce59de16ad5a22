import Foundation
import Registry
import SlipwayCore
import SQLKit

/// In-app notifications (`user_notifications`) and the recipients of a `quay_notification`.
extension MetadataStore {
    static func userNotification(from row: any SQLRow) throws -> UserNotification {
        UserNotification(
            uuid: try row.decode(column: "uuid", as: String.self), userID: try row.decode(column: "user_id", as: Int64.self),
            organization: try row.decode(column: "organization", as: String?.self), kind: try row.decode(column: "kind", as: String.self),
            metadata: EventValue.parse(try row.decode(column: "metadata", as: String.self)) ?? .object([:]),
            dismissed: try row.decode(column: "dismissed", as: Int64.self) != 0, createdAt: try row.decode(column: "created_at", as: Int64.self))
    }

    /// Stores one notification per recipient; `source` (the delivery) makes a retry add nothing twice.
    public func createUserNotifications(userIDs: [Int64], organization: String?, kind: String, metadata: [String: EventValue],
                                        source: String, now: Int64 = Clock.nowMillis()) async throws {
        let json = EventValue.objectJSON(metadata)
        try await database.transaction { db in
            for user in Set(userIDs) {
                try await db.raw("""
                    INSERT INTO user_notifications (uuid, user_id, organization, kind, metadata, source, created_at)
                    VALUES (\(bind: UUID().uuidString.lowercased()), \(bind: user), \(bind: organization), \(bind: kind), \(bind: json),
                            \(bind: source), \(bind: now))
                    ON CONFLICT (user_id, source) DO NOTHING
                    """).run()
            }
        }
    }

    /// Undismissed notifications of `userID`, newest first; `limit + 1` rows tell whether there are more.
    public func userNotifications(userID: Int64, page: Int, limit: Int) async throws -> [UserNotification] {
        try await database.read { db in
            try await db.raw("""
                SELECT uuid, user_id, organization, kind, metadata, dismissed, created_at FROM user_notifications
                WHERE user_id = \(bind: userID) AND dismissed = 0 ORDER BY created_at DESC, id DESC
                LIMIT \(bind: limit) OFFSET \(bind: max(0, page) * limit)
                """).all().map(Self.userNotification(from:))
        }
    }

    public func userNotification(uuid: String, userID: Int64) async throws -> UserNotification? {
        try await database.read { db in
            try await db.raw("""
                SELECT uuid, user_id, organization, kind, metadata, dismissed, created_at FROM user_notifications
                WHERE uuid = \(bind: uuid) AND user_id = \(bind: userID)
                """).first().map(Self.userNotification(from:))
        }
    }

    public func setUserNotificationDismissed(uuid: String, userID: Int64, dismissed: Bool) async throws -> UserNotification? {
        try await database.transaction { db in
            try await db.raw("""
                UPDATE user_notifications SET dismissed = \(bind: dismissed ? 1 : 0) WHERE uuid = \(bind: uuid) AND user_id = \(bind: userID)
                RETURNING uuid, user_id, organization, kind, metadata, dismissed, created_at
                """).first().map(Self.userNotification(from:))
        }
    }

    // MARK: Recipients

    /// A `quay_notification` target resolved to user ids, or why it cannot be.
    public enum NotificationRecipients: Sendable, Equatable {
        case users([Int64], organization: String?)
        case invalid(String)
    }

    /// `user` → that (non-robot) user; `team` → the members of that team of the repository's
    /// organization; `org` → the administrators of the repository's organization (who see an
    /// organization's notifications in Quay). Quay's rules: teams and organizations must be the
    /// repository's own namespace.
    public func notificationRecipients(kind: String, name: String, repositoryNamespace: String) async throws -> NotificationRecipients {
        try await database.read { db in
            switch kind {
            case "user":
                guard let row = try await db.raw("SELECT id FROM namespaces WHERE name = \(bind: name) AND kind = 'user'").first() else {
                    return .invalid("Unknown user \(name)")
                }
                return .users([try row.decode(column: "id", as: Int64.self)], organization: nil)
            case "team":
                guard let team = try await db.raw("""
                    SELECT t.id FROM teams t JOIN namespaces o ON o.id = t.org_id
                    WHERE o.name = \(bind: repositoryNamespace) AND o.kind = 'organization' AND t.name = \(bind: name)
                    """).first() else {
                    return .invalid("Unknown team \(name) in organization \(repositoryNamespace)")
                }
                let members = try await db.raw("""
                    SELECT m.user_id FROM team_members m JOIN namespaces u ON u.id = m.user_id
                    WHERE m.team_id = \(bind: try team.decode(column: "id", as: Int64.self)) AND u.kind = 'user'
                    """).all().map { try $0.decode(column: "user_id", as: Int64.self) }
                return .users(members, organization: nil)
            case "org":
                guard let org = try await db.raw("SELECT id FROM namespaces WHERE name = \(bind: name) AND kind = 'organization'").first() else {
                    return .invalid("Unknown organization \(name)")
                }
                guard name == repositoryNamespace else { return .invalid("Organization name must match repository namespace") }
                let admins = try await db.raw("""
                    SELECT DISTINCT m.user_id FROM teams t JOIN team_members m ON m.team_id = t.id JOIN namespaces u ON u.id = m.user_id
                    WHERE t.org_id = \(bind: try org.decode(column: "id", as: Int64.self)) AND t.role = 'admin' AND u.kind = 'user'
                    """).all().map { try $0.decode(column: "user_id", as: Int64.self) }
                return .users(admins, organization: name)
            default:
                return .invalid("Unknown target kind '\(kind)': expected user, team or org")
            }
        }
    }
}
