import Foundation
import SlipwayCore
import SQLKit

/// Someone a security notice is addressed to: an enabled user, with their e-mail address only
/// when it is confirmed (a notice never goes to an address nobody proved they read).
public struct NoticeRecipient: Sendable, Equatable {
    public let userID: Int64
    public let name: String
    public let verifiedEmail: String?
}

extension AccountStore {
    /// The enabled users among `userIDs`, in the order given (duplicates dropped).
    public func noticeRecipients(userIDs: [Int64]) async throws -> [NoticeRecipient] {
        var seen = Set<Int64>()
        let ids = userIDs.filter { seen.insert($0).inserted }
        return try await database.read { db in
            var out: [NoticeRecipient] = []
            for id in ids {
                guard let row = try await db.raw("""
                    SELECT id, name, email, email_verified FROM namespaces WHERE id = \(bind: id) AND kind = 'user' AND enabled <> 0
                    """).first() else { continue }
                let email = try row.optionalString("email").flatMap { $0.isEmpty ? nil : $0 }
                out.append(NoticeRecipient(userID: try row.int64("id"), name: try row.string("name"),
                                           verifiedEmail: try row.bool("email_verified") ? email : nil))
            }
            return out
        }
    }
}
