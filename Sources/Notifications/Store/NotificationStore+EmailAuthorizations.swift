import Crypto
import Foundation
import Registry
import SlipwayCore
import SQLKit

/// E-mail addresses allowed to receive a repository's notifications
/// (`notification_email_authorizations`; Quay's `RepositoryAuthorizedEmail`). An address is
/// confirmed by opening the link of the verification mail; only the code's SHA-256 is stored.
extension NotificationStore {
    public struct EmailAuthorization: Sendable, Equatable {
        public let repositoryID: Int64
        public let email: String
        public let confirmed: Bool
    }

    static func codeHash(_ code: String) -> String {
        SHA256.hash(data: Data(code.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    public func emailAuthorization(repositoryID: Int64, email: String) async throws -> EmailAuthorization? {
        try await database.read { db in
            try await db.raw("""
                SELECT confirmed FROM notification_email_authorizations WHERE repository_id = \(bind: repositoryID) AND email = \(bind: email)
                """).first().map {
                EmailAuthorization(repositoryID: repositoryID, email: email, confirmed: try $0.decode(column: "confirmed", as: Int64.self) != 0)
            }
        }
    }

    /// Starts (or restarts) verification of `email` for the repository with a new `code`.
    /// Returns false, changing nothing, when the address is already confirmed.
    public func startEmailAuthorization(repositoryID: Int64, email: String, code: String, now: Int64 = Clock.nowMillis()) async throws -> Bool {
        let hash = Self.codeHash(code)
        return try await database.transaction { db in
            if let row = try await db.raw("""
                SELECT confirmed FROM notification_email_authorizations WHERE repository_id = \(bind: repositoryID) AND email = \(bind: email)
                """).first() {
                if try row.decode(column: "confirmed", as: Int64.self) != 0 { return false }
                try await db.raw("""
                    UPDATE notification_email_authorizations SET code_hash = \(bind: hash), created_at = \(bind: now)
                    WHERE repository_id = \(bind: repositoryID) AND email = \(bind: email)
                    """).run()
                return true
            }
            try await db.raw("""
                INSERT INTO notification_email_authorizations (repository_id, email, code_hash, created_at)
                VALUES (\(bind: repositoryID), \(bind: email), \(bind: hash), \(bind: now))
                """).run()
            return true
        }
    }

    /// Confirms the address a verification code was sent to; nil for an unknown code.
    public func confirmEmailAuthorization(code: String, now: Int64 = Clock.nowMillis()) async throws -> (email: String, repository: String)? {
        let hash = Self.codeHash(code)
        return try await database.transaction { db in
            guard let row = try await db.raw("""
                UPDATE notification_email_authorizations SET confirmed = 1, confirmed_at = COALESCE(confirmed_at, \(bind: now))
                WHERE code_hash = \(bind: hash) RETURNING email, repository_id
                """).first() else { return nil }
            let repoID = try row.decode(column: "repository_id", as: Int64.self)
            let path = try await db.raw("""
                SELECT namespace, name FROM repository_view WHERE id = \(bind: repoID)
                """).first().map { "\(try $0.decode(column: "namespace", as: String.self))/\(try $0.decode(column: "name", as: String.self))" }
            return (try row.decode(column: "email", as: String.self), path ?? "")
        }
    }
}
