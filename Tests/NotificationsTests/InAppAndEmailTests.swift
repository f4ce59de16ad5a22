@testable import Notifications
import Accounts
import Foundation
import HTTPTypes
@testable import Mail
import NIOCore
import Registry
import SlipwayTestSupport
import Testing

/// In-app (`quay_notification`) notifications and e-mail with per-repository address
/// verification, through a loopback SMTP sink.
@Suite("In-app and e-mail notifications")
struct InAppAndEmailTests {
    @Test(arguments: TestBackend.available)
    func inAppNotificationsReachTeamsAndOrgAdmins(backend: TestBackend) async throws {
        try await NotificationFixture.with(backend, repository: "acme/app") { f in
            let accounts = f.accounts
            let bob = try await f.registry.createUser("bob")
            _ = try await f.registry.createUser("carol")
            // The fixture made `acme` with the admin in its owners team.
            let acme = try #require(try await accounts.namespace(named: "acme"))
            let devs = try await accounts.upsertTeam(organizationID: acme.id, name: "devs", role: .member)
            try await accounts.addTeamMember(teamID: devs, userID: bob.id)
            let team = try await f.create(#"{"event":"repo_push","method":"quay_notification","config":{"target":{"kind":"team","name":"devs"}},"eventConfig":{}}"#)
            try await f.create(#"{"event":"repo_push","method":"quay_notification","config":{"target":{"kind":"org","name":"acme"}},"eventConfig":{}}"#)
            try await f.create(#"{"event":"repo_push","method":"quay_notification","config":{"target":{"kind":"user","name":"carol"}},"eventConfig":{}}"#)

            try await f.push("v2")
            let bobToken = try await NotificationFixture.apiToken(f.registry, "bob")
            let carolToken = try await NotificationFixture.apiToken(f.registry, "carol")
            try await f.deliver { try await f.notifications.userNotifications(userID: bob.id, page: 0, limit: 10).count == 1 }

            for token in [bobToken, carolToken, f.api] {
                let list = try await f.send(.get, "/api/v1/user/notifications", token: token)
                #expect(list.status == .ok)
                let items = try #require(list.object["notifications"] as? [[String: Any]])
                #expect(items.count == 1)
                #expect(list.object["additional"] as? Bool == false)
                let item = try #require(items.first)
                #expect(item["kind"] as? String == "repo_push")
                #expect(item["dismissed"] as? Bool == false)
                #expect((item["created"] as? String)?.hasSuffix("-0000") == true)
                #expect((item["metadata"] as? [String: Any])?["updated_tags"] as? [String] == ["v2"])
                // Only the organization target carries the organization's name.
                #expect((item["organization"] as? String) == (token == f.api ? "acme" : nil))
            }

            // The test endpoint writes a sample too; dismissing hides a notification from the list.
            #expect(try await f.send(.post, "/api/v1/repository/acme/app/notification/\(team["uuid"] as! String)/test").status == .ok)
            try await f.deliver { try await f.notifications.userNotifications(userID: bob.id, page: 0, limit: 10).count == 2 }
            let page = try await f.send(.get, "/api/v1/user/notifications?limit=1", token: bobToken).object
            #expect((page["notifications"] as? [Any])?.count == 1)
            #expect(page["additional"] as? Bool == true)
            let newest = try #require((page["notifications"] as? [[String: Any]])?.first?["id"] as? String)
            let dismissed = try await f.send(.put, "/api/v1/user/notifications/\(newest)", token: bobToken, #"{"dismissed":true}"#)
            #expect(dismissed.status == .ok)
            #expect(dismissed.object["dismissed"] as? Bool == true)
            #expect(try await f.send(.get, "/api/v1/user/notifications/\(newest)", token: bobToken).object["dismissed"] as? Bool == true)
            let remaining = try await f.send(.get, "/api/v1/user/notifications", token: bobToken).object["notifications"] as? [Any]
            #expect(remaining?.count == 1)
            // Someone else's notification does not exist for you.
            #expect(try await f.send(.get, "/api/v1/user/notifications/\(newest)", token: carolToken).status == .notFound)
            #expect(try await f.send(.put, "/api/v1/user/notifications/\(newest)", token: carolToken, #"{"dismissed":true}"#).status == .notFound)
        }
    }

    @Test(arguments: TestBackend.available)
    func emailIsSentOnlyToConfirmedAddresses(backend: TestBackend) async throws {
        try await SMTPSink.with { sink in
            try await NotificationFixture.with(backend, configure: { config in
                config.notifications.smtpHost = "127.0.0.1"
                config.notifications.smtpPort = sink.port
                config.notifications.smtpFrom = "registry@slipway.test"
                config.server.publicURL = "https://registry.example.test"
            }) { f in
                let view = try await f.create(#"{"event":"repo_push","method":"email","title":"Prod","config":{"email":"ops@example.test"},"eventConfig":{}}"#)
                #expect(view["email_confirmed"] as? Bool == false)
                let n = try await f.notification(view)
                try await f.deliver { sink.received.count == 1 }
                let verification = try #require(sink.received.first)
                #expect(verification.from == "registry@slipway.test")
                #expect(verification.to == ["ops@example.test"])
                #expect(verification.subject == "Verify e-mail address for notifications on admin/app")
                let link = try #require(verification.body.components(separatedBy: "\r\n").first { $0.hasPrefix("https://registry.example.test/authrepoemail?code=") })
                #expect(try await f.send(.get, "/api/v1/repository/admin/app/authorizedemail/ops@example.test").object["confirmed"] as? Bool == false)

                // Before confirmation an event is not mailed (and not counted as a failure).
                try await f.push("early")
                try await f.deliver { try await f.notifications.deliveries(notificationID: n.id).first?.status == .skipped }
                #expect(sink.received.count == 1)
                #expect(try await f.notification(view).numberOfFailures == 0)

                let path = String(link.dropFirst("https://registry.example.test".count))
                let confirm = try await f.client.send(.get, path)
                #expect(confirm.status == .ok)
                #expect(String(buffer: confirm.body).contains("ops@example.test will now receive"))
                #expect(try await f.client.send(.get, "/authrepoemail?code=bogus").status == .notFound)
                #expect(try await f.send(.get, "/api/v1/repository/admin/app/notification/\(n.uuid)").object["email_confirmed"] as? Bool == true)
                #expect(try await f.send(.get, "/api/v1/repository/admin/app/authorizedemail/ops@example.test").object["confirmed"] as? Bool == true)

                try await f.push("v3")
                try await f.deliver { sink.received.count == 2 }
                let mail = try #require(sink.received.last)
                #expect(mail.to == ["ops@example.test"])
                #expect(mail.subject == "Repository admin/app updated")
                #expect(mail.body.contains("Prod"))
                #expect(mail.body.contains("Tags pushed: v3"))
                #expect(mail.body.contains("https://registry.example.test/repository/admin/app"))
                #expect(mail.data.contains("\r\nMessage-ID: <"))

                // Asking again for a confirmed address sends nothing.
                let again = try await f.send(.post, "/api/v1/repository/admin/app/authorizedemail/ops@example.test")
                #expect(again.object["confirmed"] as? Bool == true)
                await f.dispatcher.runOnce()
                #expect(sink.received.count == 2)
            }
        }
    }

    @Test func mailIsDotStuffedAndHeadersCannotBeInjected() {
        let text = SMTPClient.render(MailMessage(to: "a@b.test", subject: "Hi\r\nBcc: evil@x.test", body: "line\n.starts with a dot\n..two"), from: "s@b.test")
        #expect(text.contains("\r\n..starts with a dot\r\n...two\r\n"))
        #expect(text.contains("Subject: Hi  Bcc: evil@x.test\r\n"))
        #expect(!text.contains("\r\nBcc:"))
        let utf8 = SMTPClient.render(MailMessage(to: "a@b.test", subject: "Grüße", body: "Grüße"), from: "s@b.test")
        #expect(utf8.contains("Subject: =?UTF-8?B?"))
        #expect(utf8.contains("Content-Transfer-Encoding: base64"))
    }
}
