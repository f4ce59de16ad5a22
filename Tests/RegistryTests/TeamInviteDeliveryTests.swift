import Accounts
import Foundation
import Mail
import Registry
import SlipwayTestSupport
import Testing

/// Team invitations reach the invitee: an `org_team_invite` in-app notification whose code
/// accepts the invitation, and a queued mail when the account has an address. The codes used
/// here come from the notifications API, never from the store.
@Suite("Team invitation delivery")
struct TeamInviteDeliveryTests {
    typealias S = OrgTestSupport

    static func notifications(_ c: RegistryClient, token: String) async throws -> [[String: Any]] {
        let r = try await S.send(c, .get, "/api/v1/user/notifications?limit=100", token: token)
        #expect(r.status == .ok)
        return (S.object(r)["notifications"] as? [[String: Any]]) ?? []
    }

    /// The invitation code of the user's only `org_team_invite` notification for `team`.
    static func inviteCode(_ c: RegistryClient, token: String, team: String) async throws -> String {
        let invites = try await notifications(c, token: token).filter {
            $0["kind"] as? String == "org_team_invite" && ($0["metadata"] as? [String: Any])?["team"] as? String == team
        }
        #expect(invites.count == 1)
        return try #require((invites.first?["metadata"] as? [String: Any])?["code"] as? String)
    }

    @Test(arguments: TestBackend.available)
    func invitationsAreDeliveredAndAcceptedThroughTheAPI(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: {
            $0.auth.requireTeamInvite = true
            $0.server.publicURL = "https://registry.example.test"
        }) { registry, c in
            let accounts = registry.services.accounts
            let alice = try await registry.createUser("alice")
            let hash = try await registry.services.hasher.hash(TestRegistry.password)
            let carol = try await accounts.createUser(name: "carol", passwordHash: hash, email: "carol@example.test")
            _ = try await registry.createUser("dave")
            _ = try await accounts.createUser(name: "erin", passwordHash: hash, email: "erin@example.test")
            let aliceToken = try await S.token(registry, "alice")
            let carolToken = try await S.token(registry, "carol")
            let daveToken = try await S.token(registry, "dave")
            let erinToken = try await S.token(registry, "erin")
            let acme = try await accounts.createOrganization(name: "acme", email: nil, creatorID: alice.id)
            let devs = try await accounts.upsertTeam(organizationID: acme.id, name: "devs", role: .member)
            _ = try await accounts.upsertTeam(organizationID: acme.id, name: "ops", role: .member)

            let invited = try await S.send(c, .put, "/api/v1/organization/acme/team/devs/members/carol", token: aliceToken)
            #expect(invited.status == .ok)
            #expect(S.object(invited)["invited"] as? Bool == true)

            // Carol sees the invitation as Quay shows it: kind, metadata, no organization.
            let items = try await Self.notifications(c, token: carolToken)
            #expect(items.count == 1)
            let item = try #require(items.first)
            #expect(item["kind"] as? String == "org_team_invite")
            #expect(item["organization"] is NSNull)
            let metadata = try #require(item["metadata"] as? [String: Any])
            #expect(metadata["inviter"] as? String == "alice")
            #expect(metadata["org"] as? String == "acme")
            #expect(metadata["team"] as? String == "devs")
            let firstCode = try #require(metadata["code"] as? String)
            #expect(!firstCode.isEmpty)
            // Nobody else is told.
            #expect(try await Self.notifications(c, token: daveToken).isEmpty)
            #expect(try await Self.notifications(c, token: aliceToken).isEmpty)

            // The mail to her address carries the accept link and the API endpoint.
            var mails = try await registry.services.mail.mails(kind: MailKind.teamInvite)
            #expect(mails.count == 1)
            let mail = try #require(mails.first)
            #expect(mail.recipient == "carol@example.test")
            #expect(mail.status == .queued)
            #expect(mail.subject.contains("devs") && mail.subject.contains("acme"))
            #expect(!mail.bodySealed.contains(firstCode))  // sealed at rest
            let body = try mail.body(opening: registry.services.secretBox)
            #expect(body.contains("https://registry.example.test/confirminvite?code=\(firstCode)"))
            #expect(body.contains("https://registry.example.test/api/v1/teaminvite/\(firstCode)"))

            // Inviting again replaces the invitation: one notification, one queued mail, new code.
            #expect(try await S.send(c, .put, "/api/v1/organization/acme/team/devs/members/carol", token: aliceToken).status == .ok)
            let code = try await Self.inviteCode(c, token: carolToken, team: "devs")
            #expect(code != firstCode)
            mails = try await registry.services.mail.mails(kind: MailKind.teamInvite)
            #expect(mails.count == 1)
            #expect(try mails.first?.body(opening: registry.services.secretBox).contains("code=\(code)") == true)
            #expect(try await S.send(c, .put, "/api/v1/teaminvite/\(firstCode)", token: carolToken).status == .notFound)

            // A user without an address is told in the app only.
            #expect(S.object(try await S.send(c, .put, "/api/v1/organization/acme/team/devs/members/dave", token: aliceToken))["invited"] as? Bool == true)
            #expect(try await registry.services.mail.mails(kind: MailKind.teamInvite).count == 1)
            let daveCode = try await Self.inviteCode(c, token: daveToken, team: "devs")

            // The code from the notification accepts the invitation; the notification goes.
            #expect(try await S.send(c, .put, "/api/v1/teaminvite/\(code)", token: daveToken).status == .notFound)
            let accepted = try await S.send(c, .put, "/api/v1/teaminvite/\(code)", token: carolToken)
            #expect(accepted.status == .ok)
            #expect(S.object(accepted)["org"] as? String == "acme")
            #expect(S.object(accepted)["team"] as? String == "devs")
            #expect(try await accounts.isTeamMember(teamID: devs, accountID: carol.id))
            #expect(try await Self.notifications(c, token: carolToken).isEmpty)
            // Her mail had not gone out (no mail server here): it is not sent any more.
            #expect(try await registry.services.mail.mails(kind: MailKind.teamInvite).isEmpty)
            let members = S.object(try await S.send(c, .get, "/api/v1/organization/acme/team/devs/members?includePending=true", token: aliceToken))
            let views = (members["members"] as? [[String: Any]]) ?? []
            #expect(views.first { $0["name"] as? String == "carol" }?["invited"] as? Bool == false)
            #expect(views.first { $0["name"] as? String == "dave" }?["invited"] as? Bool == true)

            // Declining removes the invitation and its notification.
            #expect(try await S.send(c, .delete, "/api/v1/teaminvite/\(daveCode)", token: daveToken).status == .noContent)
            #expect(try await Self.notifications(c, token: daveToken).isEmpty)

            // A withdrawn invitation takes its notification and its unsent mail with it.
            #expect(S.object(try await S.send(c, .put, "/api/v1/organization/acme/team/ops/members/erin", token: aliceToken))["invited"] as? Bool == true)
            let erinCode = try await Self.inviteCode(c, token: erinToken, team: "ops")
            let erinMails = try await registry.services.mail.mails(kind: MailKind.teamInvite).filter { $0.recipient == "erin@example.test" }
            #expect(erinMails.count == 1)
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/team/ops/members/erin", token: aliceToken).status == .noContent)
            #expect(try await Self.notifications(c, token: erinToken).isEmpty)
            #expect(try await registry.services.mail.mails(kind: MailKind.teamInvite).filter { $0.recipient == "erin@example.test" }.isEmpty)
            #expect(try await S.send(c, .put, "/api/v1/teaminvite/\(erinCode)", token: erinToken).status == .notFound)
        }
    }
}
