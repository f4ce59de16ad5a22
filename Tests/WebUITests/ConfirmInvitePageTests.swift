import Accounts
import Foundation
import HTTPTypes
import HummingbirdTesting
import Registry
import SlipwayTestSupport
import Testing

/// `/confirminvite?code=`: the link of a team invitation. Signed-out visitors sign in and come
/// back; only the invitee sees the invitation; everyone else (and every stale or unknown code)
/// gets the same "not found" page. Invitations are made and answered through `/api/v1` as the
/// pages' scripts do, and the code comes from the invitee's notifications.
@Suite("Web UI: team invitation page")
struct ConfirmInvitePageTests {
    /// The code of the session user's `org_team_invite` notification for `team`.
    static func inviteCode(_ session: WebSession, team: String) async throws -> String {
        let response = try await session.api(.get, "/api/v1/user/notifications?limit=100")
        #expect(response.status == .ok)
        let items = ((response.json as? [String: Any])?["notifications"] as? [[String: Any]]) ?? []
        let invite = items.first { $0["kind"] as? String == "org_team_invite" && ($0["metadata"] as? [String: Any])?["team"] as? String == team }
        return try #require((invite?["metadata"] as? [String: Any])?["code"] as? String)
    }

    /// The page between `<main>` and `</main>`: what differs between answers, without the
    /// layout (which names the viewer).
    static func main(_ response: TestResponse) -> String {
        let text = response.text
        guard let start = text.range(of: "<main id=\"main\">"), let end = text.range(of: "</main>") else { return text }
        return String(text[start.upperBound..<end.lowerBound])
    }

    @Test(arguments: TestBackend.available)
    func signedOutVisitorsSignInAndComeBack(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, client in
            try await registry.createUser("carol")
            let anonymous = WebSession.anonymous(client)
            let page = try await anonymous.get("/confirminvite?code=abc123")
            #expect(page.status == .seeOther)
            let location = try #require(page.headers[.location])
            #expect(location == "/signin?redirect=/confirminvite%3Fcode%3Dabc123")
            // The sign-in form carries the return path and goes there once signed in.
            let signIn = try await anonymous.get(location)
            #expect(signIn.status == .ok)
            #expect(signIn.text.contains(#"data-redirect="/confirminvite?code=abc123""#))
            let carol = try await WebSession.signIn(client, "carol")
            let back = try await carol.get(location)
            #expect(back.status == .seeOther)
            #expect(back.headers[.location] == "/confirminvite?code=abc123")
            // A hostile code is percent-encoded in the return path, never echoed raw.
            let hostile = try await anonymous.get("/confirminvite?code=%22%3E%3Cscript%3Ealert(1)%3C/script%3E")
            #expect(hostile.status == .seeOther)
            let hostileLocation = try #require(hostile.headers[.location])
            #expect(!hostileLocation.contains("<") && !hostileLocation.contains("\""))
        }
    }

    @Test(arguments: TestBackend.available)
    func onlyTheInviteeSeesTheInvitation(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.auth.requireTeamInvite = true }) { registry, client in
            let accounts = registry.services.accounts
            let alice = try await registry.createUser("alice")
            let carol = try await registry.createUser("carol")
            try await registry.createUser("dave")
            let org = try await accounts.createOrganization(name: "acme", email: nil, creatorID: alice.id)
            let devs = try await accounts.upsertTeam(organizationID: org.id, name: "devs", role: .member)
            try await accounts.upsertTeam(organizationID: org.id, name: "ops", role: .member)
            let aliceWeb = try await WebSession.signIn(client, "alice")
            let carolWeb = try await WebSession.signIn(client, "carol")
            let daveWeb = try await WebSession.signIn(client, "dave")

            let invited = try await aliceWeb.api(.put, "/api/v1/organization/acme/team/devs/members/carol")
            #expect(invited.status == .ok)
            #expect((invited.json as? [String: Any])?["invited"] as? Bool == true)
            let code = try await Self.inviteCode(carolWeb, team: "devs")

            // The invitee sees who invited her to which team, and the page's script.
            let page = try await carolWeb.get("/confirminvite?code=\(code)")
            #expect(page.status == .ok)
            let body = Self.main(page)
            #expect(body.contains(#"<strong class="invite-inviter">alice</strong> invited you to join team"#))
            #expect(body.contains(#"<strong class="invite-team">devs</strong> in organization <strong class="invite-org">acme</strong>"#))
            #expect(body.contains(#"data-code="\#(code)""#))
            #expect(body.contains(#"id="invite-accept""#) && body.contains(#"id="invite-decline""#))
            #expect(body.contains(#"href="/organization/acme""#))
            #expect(page.text.contains(#"<script src="/static/js/confirm-invite.js" defer>"#))
            #expect(!page.text.contains("<script>"))
            let script = try await client.send(.get, "/static/js/confirm-invite.js")
            #expect(script.status == .ok)
            #expect(script.text.contains("/api/v1/teaminvite/"))

            // Someone else's code, an unknown code and no code look the same: 404, nothing told.
            let notForDave = try await daveWeb.get("/confirminvite?code=\(code)")
            #expect(notForDave.status == .notFound)
            let unknown = try await daveWeb.get("/confirminvite?code=slw_doesnotexist")
            #expect(unknown.status == .notFound)
            #expect(Self.main(notForDave) == Self.main(unknown))
            #expect(try await daveWeb.get("/confirminvite").status == .notFound)
            let notForAlice = try await aliceWeb.get("/confirminvite?code=\(code)")
            #expect(notForAlice.status == .notFound)
            for response in [notForDave, notForAlice] {
                let text = Self.main(response)
                #expect(text.contains("Invitation not found"))
                for secret in ["devs", "acme", "carol", code] { #expect(!text.contains(secret), "\(secret)") }
            }
            #expect(try await accounts.isTeamMember(teamID: devs, accountID: carol.id) == false)

            // Accepting as the page's script does (cookie + CSRF) makes her a member; the link is then used up.
            let accepted = try await carolWeb.api(.put, "/api/v1/teaminvite/\(code)")
            #expect(accepted.status == .ok)
            #expect((accepted.json as? [String: Any])?["org"] as? String == "acme")
            let members = try await aliceWeb.api(.get, "/api/v1/organization/acme/team/devs/members?includePending=true")
            let views = ((members.json as? [String: Any])?["members"] as? [[String: Any]]) ?? []
            #expect(views.first { $0["name"] as? String == "carol" }?["invited"] as? Bool == false)
            let used = try await carolWeb.get("/confirminvite?code=\(code)")
            #expect(used.status == .notFound)
            #expect(Self.main(used) == Self.main(unknown))

            // A declined invitation's link is used up too, and she does not join.
            #expect(try await aliceWeb.api(.put, "/api/v1/organization/acme/team/ops/members/dave").status == .ok)
            let daveCode = try await Self.inviteCode(daveWeb, team: "ops")
            #expect(try await daveWeb.get("/confirminvite?code=\(daveCode)").status == .ok)
            #expect(try await daveWeb.api(.delete, "/api/v1/teaminvite/\(daveCode)").status == .noContent)
            #expect(try await daveWeb.get("/confirminvite?code=\(daveCode)").status == .notFound)
            let ops = try await aliceWeb.api(.get, "/api/v1/organization/acme/team/ops/members?includePending=true")
            #expect((((ops.json as? [String: Any])?["members"] as? [[String: Any]]) ?? []).allSatisfy { $0["name"] as? String != "dave" })
        }
    }

    @Test(arguments: TestBackend.available)
    func hostileNamesAreEscaped(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, client in
            let accounts = registry.services.accounts
            // Names the API would refuse, stored directly: the page must not trust validation.
            let hash = try await registry.services.hasher.hash(TestRegistry.password)
            let inviter = try await accounts.createUser(name: "<script>alert(1)</script>", passwordHash: hash, email: nil)
            let carol = try await registry.createUser("carol")
            let org = try await accounts.createOrganization(name: #"o"rg<x>"#, email: nil, creatorID: inviter.id)
            let team = try await accounts.upsertTeam(organizationID: org.id, name: "<img src=x onerror=alert(1)>", role: .member)
            let code = APITokens.generate()
            try await accounts.createTeamInvite(TeamInvitation(
                teamID: team, userID: carol.id, inviterID: inviter.id, code: code,
                notificationMetadata: ["inviter": .string(inviter.name), "org": .string(org.name), "team": .string("<img src=x onerror=alert(1)>"),
                                       "code": .string(code)],
                mail: nil), secretBox: registry.services.secretBox, notices: registry.notifications.teamInviteNotices())

            let carolWeb = try await WebSession.signIn(client, "carol")
            let page = try await carolWeb.get("/confirminvite?code=\(code)")
            #expect(page.status == .ok)
            let body = Self.main(page)
            #expect(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(body.contains("&lt;img src=x onerror=alert(1)&gt;"))
            #expect(body.contains("o&quot;rg&lt;x&gt;") || body.contains("o&#34;rg&lt;x&gt;"))
            #expect(body.contains(#"href="/organization/o%22rg%3Cx%3E""#))
            for raw in ["<script>alert", "<img", #"o"rg"#, "<x>"] { #expect(!page.text.contains(raw), "\(raw)") }
        }
    }
}
