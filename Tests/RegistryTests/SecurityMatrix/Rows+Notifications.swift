import Foundation
import HTTPTypes
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import SQLKit
import Testing

/// Matrix rows for the repository notification API and in-app notifications. Every repository
/// route needs admin on acme/app; destructive rows act on a notification made for them (through
/// the API as the org admin, since this target does not link the Notifications module). The
/// user routes act on the caller's own in-app notification.
extension MatrixRows {
    /// A public IP literal: passes the SSRF check without DNS, and nothing is ever sent to it here.
    static let notificationBody = #"{"event":"repo_push","method":"webhook","config":{"url":"http://93.184.216.34/hook"},"eventConfig":{}}"#

    /// A fresh notification on acme/app; returns its uuid.
    static func freshNotification(_ f: MatrixFixture) async throws -> String {
        let r = try await f.client.send(.post, "/api/v1/repository/acme/app/notification/", token: f.tokens[.orgAdmin],
                                        headers: [.contentType: "application/json"], body: ByteBuffer(string: notificationBody))
        guard r.status == .created, let uuid = (r.json as? [String: Any])?["uuid"] as? String else {
            throw TestFailure("could not create a notification: \(r.status) \(String(buffer: r.body))")
        }
        return uuid
    }

    /// An in-app notification for `who` (any uuid for anonymous callers, who never get that far).
    static func freshUserNotification(_ f: MatrixFixture, _ who: MatrixIdentity) async throws -> String {
        let uuid = UUID().uuidString.lowercased()
        guard let user = f.users[who] else { return uuid }
        try await f.registry.services.store.database.transaction { db in
            try await db.raw("""
                INSERT INTO user_notifications (uuid, user_id, kind, metadata, source, created_at)
                VALUES (\(bind: uuid), \(bind: user.id), 'repo_push', '{}', \(bind: uuid), \(bind: Clock.nowMillis()))
                """).run()
        }
        return uuid
    }

    static let notifications: [MatrixRow] = [
        MatrixRow(.post, "/api/v1/repository/{repository}/notification/", path: "/api/v1/repository/acme/app/notification/",
                  body: notificationBody, adminApp(201)),
        MatrixRow(.post, "/api/v1/repository/{repository}/notification", path: "/api/v1/repository/acme/app/notification",
                  body: notificationBody, adminApp(201)),
        MatrixRow(.get, "/api/v1/repository/{repository}/notification/", path: "/api/v1/repository/acme/app/notification/", adminApp(200)),
        MatrixRow(.get, "/api/v1/repository/{repository}/notification", path: "/api/v1/repository/acme/app/notification", adminApp(200)),
        MatrixRow(.get, "/api/v1/repository/{repository}/notification/{uuid}", adminApp(200)) { f, _ in
            ("/api/v1/repository/acme/app/notification/\(try await freshNotification(f))", nil)
        },
        MatrixRow(.delete, "/api/v1/repository/{repository}/notification/{uuid}", adminApp(204)) { f, _ in
            ("/api/v1/repository/acme/app/notification/\(try await freshNotification(f))", nil)
        },
        MatrixRow(.post, "/api/v1/repository/{repository}/notification/{uuid}", adminApp(204)) { f, _ in
            ("/api/v1/repository/acme/app/notification/\(try await freshNotification(f))", nil)
        },
        MatrixRow(.post, "/api/v1/repository/{repository}/notification/{uuid}/test", adminApp(200)) { f, _ in
            ("/api/v1/repository/acme/app/notification/\(try await freshNotification(f))/test", nil)
        },
        MatrixRow(.post, "/api/v1/repository/{repository}/authorizedemail/{email}",
                  path: "/api/v1/repository/acme/app/authorizedemail/ops@acme.test", adminApp(200)),
        MatrixRow(.get, "/api/v1/repository/{repository}/authorizedemail/{email}", adminApp(200)) { f, _ in
            // Verification of the address is started first, so there is a record to read.
            _ = try await f.client.send(.post, "/api/v1/repository/acme/app/authorizedemail/dev@acme.test", token: f.tokens[.orgAdmin])
            return ("/api/v1/repository/acme/app/authorizedemail/dev@acme.test", nil)
        },
        MatrixRow(.get, "/api/v1/user/notifications", expect(200, [.anonymous: 401, .narrowToken: 403])),
        MatrixRow(.get, "/api/v1/user/notifications/{uuid}", expect(200, [.anonymous: 401, .narrowToken: 403])) { f, who in
            ("/api/v1/user/notifications/\(try await freshUserNotification(f, who))", nil)
        },
        MatrixRow(.put, "/api/v1/user/notifications/{uuid}", expect(200, [.anonymous: 401, .narrowToken: 403])) { f, who in
            ("/api/v1/user/notifications/\(try await freshUserNotification(f, who))", #"{"dismissed":true}"#)
        },
    ]
}
