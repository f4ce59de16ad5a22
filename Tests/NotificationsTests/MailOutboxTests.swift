import Accounts
import Audit
@testable import Notifications
import Foundation
import HTTPTypes
import Mail
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// The mail outbox end to end: the registry queues team-invitation and log-export mail, the
/// `MailOutboxSender` delivers it to a loopback SMTP sink, retries while the mail server is
/// down, gives up after `maxAttempts`, and records the outcome in the export's `email_status`.
@Suite("Mail outbox")
struct MailOutboxTests {
    static let json: HTTPFields = [.contentType: "application/json"]
    static let publicURL = "https://registry.example.test"

    /// The test drives the sender; the publicURL makes links predictable.
    static func configure(_ config: inout SlipwayConfig, smtpPort: Int?) {
        config.notifications.dispatchIntervalSeconds = 0
        config.server.publicURL = publicURL
        config.auth.requireTeamInvite = true
        if let smtpPort {
            config.notifications.smtpHost = "127.0.0.1"
            config.notifications.smtpPort = smtpPort
            config.notifications.smtpFrom = "registry@slipway.test"
        }
    }

    /// `carol` (with an address) invited by the admin to `acme/devs`; returns her API token.
    static func inviteCarol(_ registry: TestRegistry, _ c: RegistryClient, admin: String) async throws -> String {
        let accounts = registry.services.accounts
        let hash = try await registry.services.hasher.hash(TestRegistry.password)
        _ = try await accounts.createUser(name: "carol", passwordHash: hash, email: "carol@example.test")
        let owner = try #require(try await accounts.namespace(named: TestRegistry.adminName))
        let acme = try await accounts.createOrganization(name: "acme", email: nil, creatorID: owner.id)
        _ = try await accounts.upsertTeam(organizationID: acme.id, name: "devs", role: .member)
        let r = try await c.send(.put, "/api/v1/organization/acme/team/devs/members/carol", token: admin)
        #expect(r.status == .ok, "\(String(buffer: r.body))")
        return try await NotificationFixture.apiToken(registry, "carol")
    }

    /// The code in carol's `org_team_invite` notification, read through the API.
    static func inviteCode(_ c: RegistryClient, token: String) async throws -> String {
        let list = try await c.send(.get, "/api/v1/user/notifications", token: token).object
        let item = try #require((list["notifications"] as? [[String: Any]])?.first { $0["kind"] as? String == "org_team_invite" })
        return try #require((item["metadata"] as? [String: Any])?["code"] as? String)
    }

    /// Queues an e-mail-only export of the admin's logs and waits until it is written.
    static func export(_ registry: TestRegistry, _ c: RegistryClient, admin: String) async throws -> String {
        let r = try await c.send(.post, "/api/v1/user/exportlogs", token: admin, headers: json,
                                 body: ByteBuffer(string: #"{"callback_email":"ops@example.test"}"#))
        #expect(r.status == .ok, "\(String(buffer: r.body))")
        let id = try #require(r.object["export_id"] as? String)
        _ = try await waitForExport(registry, id) { $0.status == .done }
        return id
    }

    static func waitForExport(_ registry: TestRegistry, _ uuid: String,
                              _ done: (LogExport) -> Bool) async throws -> LogExport {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            if let export = try await registry.services.auditStore.logExport(uuid: uuid), done(export) { return export }
            guard ContinuousClock.now < deadline else { throw TestFailure("export \(uuid) did not reach the expected state") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// One pass of `sender` with the job queue's clock at `now`.
    static func runOnce(_ sender: MailOutboxSender, _ registry: TestRegistry, now: Int64) async -> Int {
        registry.jobTime.set(now)
        return await sender.runOnce()
    }

    static func pathAndQuery(_ url: Substring) throws -> String {
        let c = try #require(URLComponents(string: String(url)))
        return c.percentEncodedPath + (c.percentEncodedQuery.map { "?" + $0 } ?? "")
    }

    @Test(arguments: TestBackend.available)
    func invitationAndExportMailAreDelivered(backend: TestBackend) async throws {
        try await SMTPSink.with { sink in
            try await TestRegistry.with(backend, configure: { Self.configure(&$0, smtpPort: sink.port) }) { registry, c in
                let store = registry.services.auditStore
                let sender = registry.notifications.mailSender
                let admin = try await NotificationFixture.apiToken(registry, TestRegistry.adminName)

                let carol = try await Self.inviteCarol(registry, c, admin: admin)
                #expect(await sender.runOnce() == 1)
                #expect(sink.received.count == 1)
                let invite = try #require(sink.received.first)
                #expect(invite.from == "registry@slipway.test")
                #expect(invite.to == ["carol@example.test"])
                #expect(invite.subject == "Invitation to join team devs of acme")
                let code = try await Self.inviteCode(c, token: carol)
                #expect(invite.body.contains("\(Self.publicURL)/confirminvite?code=\(code)"))
                let sent = try #require(try await registry.services.mail.mails(kind: MailKind.teamInvite).first)
                #expect(sent.status == .sent)
                #expect(sent.bodySealed.isEmpty)  // the code is not kept once sent
                #expect(await sender.runOnce() == 0)  // sent once only
                #expect(try await c.send(.put, "/api/v1/teaminvite/\(code)", token: carol).status == .ok)

                let exportID = try await Self.export(registry, c, admin: admin)
                #expect(try await store.logExport(uuid: exportID)?.emailStatus == "queued")
                #expect(await sender.runOnce() == 1)
                #expect(sink.received.count == 2)
                let mail = try #require(sink.received.last)
                #expect(mail.to == ["ops@example.test"])
                #expect(mail.subject == "Usage logs of admin are ready")
                #expect(try await store.logExport(uuid: exportID)?.emailStatus == "sent")
                // The link in the mail downloads the export.
                let prefix = "\(Self.publicURL)/api/v1/exportedlogs/\(exportID)?token="
                let line = try #require(mail.body.components(separatedBy: "\r\n").first { $0.hasPrefix(prefix) })
                let download = try await c.send(.get, try Self.pathAndQuery(Substring(line)))
                #expect(download.status == .ok)
                #expect(download.object["export_id"] as? String == exportID)
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func mailWaitsForTheServerAndIsNotLost(backend: TestBackend) async throws {
        // A port nothing listens on any more.
        let deadPort = try await SMTPSink.with { $0.port }
        try await TestRegistry.with(backend, configure: { Self.configure(&$0, smtpPort: deadPort) }) { registry, c in
            let store = registry.services.auditStore
            let admin = try await NotificationFixture.apiToken(registry, TestRegistry.adminName)
            _ = try await Self.inviteCarol(registry, c, admin: admin)
            let exportID = try await Self.export(registry, c, admin: admin)
            let down = registry.notifications.mailSender

            let start = Clock.nowMillis()
            #expect(await Self.runOnce(down, registry, now: start) == 2)
            var queued = try await registry.services.mail.mails(kind: MailKind.teamInvite) + registry.services.mail.mails(kind: MailKind.logExport)
            #expect(queued.count == 2)
            for mail in queued {
                #expect(mail.status == .queued)
                #expect(mail.attempts == 1)
                #expect(mail.nextAttemptAt > start)
                #expect(mail.lastError?.contains("mail delivery failed") == true, "\(mail.lastError ?? "")")
            }
            #expect(try await store.logExport(uuid: exportID)?.emailStatus == "queued")
            // Not due again before the backoff has passed.
            #expect(await Self.runOnce(down, registry, now: start) == 0)
            let retryAt = try #require(queued.map(\.nextAttemptAt).max())
            #expect(await Self.runOnce(down, registry, now: retryAt) == 2)
            queued = try await registry.services.mail.mails(kind: MailKind.teamInvite) + registry.services.mail.mails(kind: MailKind.logExport)
            #expect(queued.allSatisfy { $0.attempts == 2 && $0.status == .queued })

            // The server is back (a restarted sender configured with it): both go out.
            try await SMTPSink.with { sink in
                var smtp = registry.services.config.notifications
                smtp.smtpPort = sink.port
                let up = MailOutboxSender(services: registry.services, smtp: smtp)
                #expect(await Self.runOnce(up, registry, now: retryAt + 3_600_000) == 2)
                #expect(Set(sink.received.flatMap(\.to)) == ["carol@example.test", "ops@example.test"])
            }
            #expect(try await store.logExport(uuid: exportID)?.emailStatus == "sent")

            // Attempts are bounded: a mail still undeliverable after maxAttempts fails, and says so.
            let second = try await Self.export(registry, c, admin: admin)
            var settings = MailOutboxSender.Settings(config: registry.services.config.notifications)
            settings.maxAttempts = 2
            let bounded = MailOutboxSender(services: registry.services, settings: settings)
            let later = Clock.nowMillis()
            #expect(await Self.runOnce(bounded, registry, now: later) == 1)
            #expect(try await store.logExport(uuid: second)?.emailStatus == "queued")
            #expect(await Self.runOnce(bounded, registry, now: later + 3_600_000) == 1)
            let failed = try #require(try await registry.services.mail.mails(kind: MailKind.logExport, reference: second).first)
            #expect(failed.status == .failed)
            #expect(failed.lastError?.contains("gave up after 2 attempts") == true)
            #expect(try await store.logExport(uuid: second)?.emailStatus == "failed")
            #expect(await Self.runOnce(bounded, registry, now: later + 7_200_000) == 0)
        }
    }

    /// A sender that dies during a mail's last attempt does not leave the mail queued for ever:
    /// when the job is given up, the row records the failure and why.
    @Test(arguments: TestBackend.available)
    func aMailWhoseLastSenderDiedIsRecordedAsFailed(backend: TestBackend) async throws {
        try await SMTPSink.with { sink in
            try await TestRegistry.with(backend, configure: { Self.configure(&$0, smtpPort: sink.port) }) { registry, _ in
                let start = Clock.nowMillis()
                registry.jobTime.set(start)
                try await registry.services.mail.enqueue(OutgoingMail(recipient: "dave@example.test", subject: "s", body: "b",
                                                                      kind: MailKind.teamInvite, reference: "1:2"), now: start)
                // One attempt allowed, and a sender that took it and died.
                try await registry.database.transaction { db in
                    try await db.raw("UPDATE jobs SET max_attempts = 1 WHERE queue = \(bind: MailJob.queue)").run()
                }
                #expect(try await registry.services.jobs.claim(queue: MailJob.queue, limit: 1, visibilityTimeout: .seconds(30)).count == 1)
                let sender = MailOutboxSender(services: registry.services)
                #expect(await Self.runOnce(sender, registry, now: start + 31_000) == 1)
                let mail = try #require(try await registry.services.mail.mails(kind: MailKind.teamInvite, reference: "1:2").first)
                #expect(mail.status == .failed)
                #expect(mail.lastError?.contains("the lease of its last attempt expired") == true, "\(mail.lastError ?? "")")
                #expect(sink.received.isEmpty, "nothing is sent for a given-up job")
            }
        }
    }

    /// With the sender running as a service, a mail goes out as soon as it is queued: the push
    /// wakes the sender's runner (on PostgreSQL through NOTIFY and the driver's LISTEN
    /// connection), whose fallback poll here is an hour away.
    @Test(arguments: TestBackend.available)
    func queuedMailIsSentWithoutWaitingForAPoll(backend: TestBackend) async throws {
        try await SMTPSink.with { sink in
            try await TestRegistry.with(backend, configure: { config in
                Self.configure(&config, smtpPort: sink.port)
                config.notifications.dispatchIntervalSeconds = 360
            }) { registry, c in
                #expect(registry.notifications.mailSender.settings.fallbackPoll == .seconds(3600))
                let admin = try await NotificationFixture.apiToken(registry, TestRegistry.adminName)
                _ = try await Self.inviteCarol(registry, c, admin: admin)
                let started = ContinuousClock.now
                while sink.received.isEmpty {
                    guard ContinuousClock.now - started < .seconds(60) else { throw TestFailure("the mail waited for a poll") }
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(sink.received.map(\.to) == [["carol@example.test"]])
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func withoutAMailServerMailStaysQueued(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { Self.configure(&$0, smtpPort: nil) }) { registry, c in
            let admin = try await NotificationFixture.apiToken(registry, TestRegistry.adminName)
            _ = try await Self.inviteCarol(registry, c, admin: admin)
            let sender = registry.notifications.mailSender
            #expect(await sender.runOnce() == 0)
            #expect(await Self.runOnce(sender, registry, now: Clock.nowMillis() + 86_400_000) == 0)
            let mail = try #require(try await registry.services.mail.mails(kind: MailKind.teamInvite).first)
            #expect(mail.status == .queued)
            #expect(mail.attempts == 0)
            #expect(mail.lastError == nil)
        }
    }
}
