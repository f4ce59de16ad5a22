import Foundation
import Mail
import SlipwayCore
import SQLKit

extension MailKind {
    /// The confirmation link of a self-created account's e-mail address, referenced by user id.
    public static let emailVerification = MailKind("email_verification")
}

/// A self sign-up (`POST /api/v1/user/`): the account, and when its address must be confirmed,
/// the confirmation code's hash and the mail carrying the link.
public struct SelfSignUp: Sendable {
    public var name: String
    public var passwordHash: String
    public var email: String?
    public var ip: String
    public var limitPerHour: Int
    /// `(code hash, mail)` when the address must be confirmed before the account may push.
    public var verification: (codeHash: String, mail: OutgoingMail)?

    public init(name: String, passwordHash: String, email: String?, ip: String, limitPerHour: Int,
                verification: (codeHash: String, mail: OutgoingMail)?) {
        self.name = name
        self.passwordHash = passwordHash
        self.email = email
        self.ip = ip
        self.limitPerHour = limitPerHour
        self.verification = verification
    }
}

public enum SelfSignUpRefusal: Error, Sendable, Equatable {
    /// This address created `auth.userCreationPerHourPerIP` accounts within the last hour.
    case rateLimited
}

/// How long a confirmation link works.
public let emailVerificationLifetimeMillis: Int64 = 48 * 3600 * 1000

extension AccountStore {
    /// Creates the account, counts it against the address's hourly limit and queues the
    /// confirmation mail, all in one transaction: a refused or failed sign-up leaves nothing.
    /// Throws `SelfSignUpRefusal.rateLimited`, or `alreadyExists` for a taken name.
    public func signUp(_ signUp: SelfSignUp, secretBox: SecretBox, now: Int64 = Clock.nowMillis()) async throws -> Namespace {
        try await database.transaction { db in
            let hourAgo = now - 3600 * 1000
            try await db.raw("DELETE FROM signup_attempts WHERE created_at <= \(bind: hourAgo)").run()
            let recent = try await db.raw("SELECT COUNT(*) AS n FROM signup_attempts WHERE ip = \(bind: signUp.ip)").first()
            if try (recent?.int64("n") ?? 0) >= Int64(signUp.limitPerHour) { throw SelfSignUpRefusal.rateLimited }
            let user = try await Self.createUser(name: signUp.name, passwordHash: signUp.passwordHash, email: signUp.email, in: db)
            try await db.raw("INSERT INTO signup_attempts (ip, created_at) VALUES (\(bind: signUp.ip), \(bind: now))").run()
            if let verification = signUp.verification, let email = signUp.email {
                try await db.raw("UPDATE namespaces SET email_verified = 0 WHERE id = \(bind: user.id)").run()
                try await db.raw("""
                    INSERT INTO email_verifications (code_hash, user_id, email, expires_at)
                    VALUES (\(bind: verification.codeHash), \(bind: user.id), \(bind: email), \(bind: now + emailVerificationLifetimeMillis))
                    """).run()
                try await MailOutbox.enqueue(on: db, verification.mail, secretBox: secretBox, jobs: jobs, now: now)
            }
            return user
        }
    }

    /// Spends a confirmation code: the user's address is verified when it is still the one the
    /// link was sent to. Returns the user, or nil for an unknown, used or expired code.
    public func verifyEmail(codeHash: String) async throws -> Namespace? {
        try await database.transaction { db in
            guard let row = try await db.raw("""
                DELETE FROM email_verifications WHERE code_hash = \(bind: codeHash) RETURNING user_id, email, expires_at
                """).first(), try row.int64("expires_at") > Clock.nowMillis() else { return nil }
            let userID = try row.int64("user_id")
            try await db.raw("""
                UPDATE namespaces SET email_verified = 1 WHERE id = \(bind: userID) AND email = \(bind: try row.string("email"))
                """).run()
            return try await db.raw("SELECT \(unsafeRaw: Self.namespaceColumns) FROM namespaces WHERE id = \(bind: userID)")
                .first().map(Self.namespace(from:))
        }
    }

    public func isEmailVerified(userID: Int64) async throws -> Bool {
        try await database.read { db in
            try await db.raw("SELECT email_verified FROM namespaces WHERE id = \(bind: userID)").first()?.bool("email_verified") ?? true
        }
    }
}
