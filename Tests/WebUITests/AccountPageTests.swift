import Accounts
import Foundation
import HTTPTypes
import HummingbirdTesting
import Registry
import SlipwayTestSupport
import Testing

/// Organization and user pages: members see teams, admins see robots/default permissions/
/// settings/logs, outsiders only what the API shows them; user settings are only one's own.
@Suite("Web UI: organization and user pages")
struct AccountPageTests {
    @Test func organizationTabsFollowTeamRoles() async throws {
        try await TestRegistry.with(.sqlite) { registry, client in
            let accounts = registry.services.accounts
            let admin = try await accounts.namespace(named: TestRegistry.adminName)!
            let member = try await registry.createUser("member")
            try await registry.createUser("outsider")
            let org = try await accounts.createOrganization(name: "acme", email: nil, creatorID: admin.id)
            let team = try await accounts.upsertTeam(organizationID: org.id, name: "devs", role: .member, description: "<b>devs</b>")
            try await accounts.addTeamMember(teamID: team, userID: member.id)
            let adminSession = try await WebSession.signIn(client, TestRegistry.adminName)
            #expect(try await adminSession.api(.put, "/api/v1/organization/acme/robots/builder", json: #"{"description":"ci"}"#).status == .created)

            for tab in ["repositories", "teams", "robots", "defaultpermissions", "settings", "logs"] {
                let page = try await adminSession.get("/organization/acme?tab=\(tab)")
                #expect(page.status == .ok, "\(tab)")
                #expect(page.text.contains(#"id="tab-\#(tab)" aria-current="page""#), "\(tab)")
            }
            let robots = try await adminSession.get("/organization/acme?tab=robots")
            #expect(robots.text.contains(#"data-robot="acme+builder""#))
            // Tokens are fetched on click, never put into the page.
            let token = try await adminSession.api(.get, "/api/v1/organization/acme/robots/builder")
            let code = try #require((token.json as? [String: Any])?["token"] as? String)
            #expect(!robots.text.contains(code))
            let teams = try await adminSession.get("/organization/acme?tab=teams")
            #expect(teams.text.contains(#"data-team="devs""#))
            #expect(teams.text.contains("&lt;b&gt;devs&lt;/b&gt;"))
            #expect(try await adminSession.get("/organization/acme?tab=teams&view=members").text.contains(#"data-member="member""#))

            let memberSession = try await WebSession.signIn(client, "member")
            #expect(try await memberSession.get("/organization/acme?tab=teams").status == .ok)
            for tab in ["robots", "defaultpermissions", "settings", "logs"] {
                #expect(try await memberSession.get("/organization/acme?tab=\(tab)").status == .notFound, "\(tab)")
            }
            let outsider = try await WebSession.signIn(client, "outsider")
            #expect(try await outsider.get("/organization/acme").status == .ok)
            #expect(try await outsider.get("/organization/acme?tab=teams").status == .notFound)
            #expect(try await outsider.get("/organization/nope").status == .notFound)
            #expect(try await WebSession.anonymous(client).get("/organization/acme").status == .seeOther)

            let list = try await memberSession.get("/organization/")
            #expect(list.text.contains(#"data-org="acme""#))
        }
    }

    @Test func userPagesAreOnlyYourOwn() async throws {
        try await TestRegistry.with(.sqlite) { registry, client in
            try await registry.createUser("bob")
            let bob = try await WebSession.signIn(client, "bob")
            for tab in ["settings", "robots", "tokens", "logs"] {
                let page = try await bob.get("/user/bob?tab=\(tab)")
                #expect(page.status == .ok, "\(tab)")
                #expect(page.text.contains(#"id="tab-\#(tab)" aria-current="page""#), "\(tab)")
            }
            let other = try await bob.get("/user/admin?tab=settings")
            #expect(other.status == .seeOther)
            #expect(other.headers[.location] == "/repository/?namespace=admin")
            #expect(try await WebSession.anonymous(client).get("/user/bob").status == .seeOther)
            #expect(try await bob.api(.post, "/api/v1/user/apptoken", json: #"{"title":"<i>laptop</i>"}"#).status == .ok)
            let tokens = try await bob.get("/user/bob?tab=tokens")
            #expect(tokens.text.contains("&lt;i&gt;laptop&lt;/i&gt;"))
        }
    }
}
