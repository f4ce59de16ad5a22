import Foundation
import SlipwayCore
import SQLKit

/// An in-app notification (Quay's `notification` row).
public struct UserNotification: Sendable {
    public let uuid: String
    public let userID: Int64
    public let organization: String?
    public let kind: String
    public let metadata: EventValue
    public let dismissed: Bool
    public let createdAt: Int64
}

/// In-app notifications (`user_notifications`).
extension NotificationStore {
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
}
