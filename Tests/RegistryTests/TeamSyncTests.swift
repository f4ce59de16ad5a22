import Accounts
import Foundation
import HTTPTypes
import HummingbirdTesting
import Mail
import NIOCore
@testable import Registry
import SlipwayCore
import SlipwayTestSupport
import SQLKit
import Testing

/// Team sync by an OIDC group claim (issue #17: "a team can be bound to a provider group
/// claim"), against `TestIssuer`: the syncing API, membership following each sign-in (ID token
/// claim, then userinfo), hand edits refused on a synced team, the usage-log entries; and the
/// identity notices (in-app notification + mail) of linked sign-ins and robot federation.
@Suite("Team sync and identity notices")
struct TeamSyncTests {
    typealias S = OrgTestSupport
    typealias F = SingleSignOnFlowTests

    static func configure(_ url: String) -> (inout SlipwayConfig) -> Void {
        { config in
            F.configure(url)(&config)
            config.auth.oidc[0].groupsClaim = "groups"
        }
    }

    /// One sign-in through `idp` as `subject`; the ID token carries `groups` when not nil.
    static func signIn(_ c: RegistryClient, issuer: TestIssuer, url: String, key: TestIssuer.Key, subject: String,
                       groups: [String]?, email: String? = nil) async throws -> TestResponse {
        let started = try await F.start(c, issuer: url)
        let token = try await TestIssuer.token(issuer: url, subject: subject, key: key, audience: F.client, nonce: started.nonce,
                                               username: subject, email: email, groups: groups)
        issuer.nextIDToken.withLock { $0 = token }
        return try await F.callback(c, state: started.state, cookie: started.cookie)
    }

    static func storedLogs(_ registry: TestRegistry) async throws -> [(kind: String, metadata: String)] {
        await registry.services.auditLog.flush()
        return try await registry.services.store.database.read { db in
            try await db.raw("SELECT kind, metadata FROM usage_logs ORDER BY id").all().map {
                (try $0.decode(column: "kind", as: String.self), try $0.decode(column: "metadata", as: String.self))
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func membershipFollowsTheGroupsAtEachSignIn(backend: TestBackend) async throws {
        try await TestIssuer.with { issuer, url in
            let key = TestIssuer.key("k1")
            issuer.publish([key])
            try await TestRegistry.with(backend, configure: Self.configure(url)) { registry, c in
                let accounts = registry.services.accounts
                let owner = try await registry.createUser("owner")
                let acme = try await accounts.createOrganization(name: "acme", email: nil, creatorID: owner.id)
                let devs = try await accounts.upsertTeam(organizationID: acme.id, name: "devs", role: .member)
                let token = try await S.token(registry, "owner")
                let path = "/api/v1/organization/acme/team/devs"

                // Bad bindings are refused in Quay's shape and bind nothing.
                for body in [#"{"group_name":""}"#, #"{}"#, #"{"group_name":"developers","provider":"nope"}"#] {
                    let bad = try await S.send(c, .post, path + "/syncing", token: token, json: body)
                    #expect(bad.status == .badRequest, "\(body)")
                    #expect(S.object(bad)["error_type"] as? String == "invalid_request")
                }
                #expect(try await S.send(c, .post, "/api/v1/organization/acme/team/nope/syncing", token: token,
                                         json: #"{"group_name":"x"}"#).status == .notFound)
                #expect(try await accounts.teamSync(teamID: devs) == nil)

                let enabled = try await S.send(c, .post, path + "/syncing", token: token, json: #"{"group_name":"developers"}"#)
                #expect(enabled.status == .ok, "\(String(buffer: enabled.body))")
                #expect(S.object(enabled)["name"] as? String == "devs")
                let listing = S.object(try await S.send(c, .get, path + "/members", token: token))
                let synced = try #require(listing["synced"] as? [String: Any], "\(listing)")
                #expect(synced["service"] as? String == "oidc" && synced["provider"] as? String == "idp")
                #expect((synced["config"] as? [String: String]) == ["group_name": "developers"])
                #expect(synced["last_updated"] is NSNull)
                #expect((listing["can_sync"] as? [String: Any])?["service"] as? String == "oidc")
                let org = S.object(try await S.send(c, .get, "/api/v1/organization/acme", token: token))
                #expect(((org["teams"] as? [String: Any])?["devs"] as? [String: Any])?["is_synced"] as? Bool == true)

                // First sign-in, in the group: after the username confirmation bea is in the team.
                let first = try await Self.signIn(c, issuer: issuer, url: url, key: key, subject: "bea-sub", groups: ["developers", "other"],
                                                  email: "bea@example.com")
                let signup = try #require(F.cookies(first)["slipway_oidc_signup"])
                let confirmed = try await c.send(.post, "/signin/confirm-username",
                                                 headers: [.cookie: "slipway_oidc_signup=\(signup)", .contentType: "application/x-www-form-urlencoded"],
                                                 body: ByteBuffer(string: "username=bea"))
                #expect(confirmed.status == .seeOther)
                let bea = try #require(try await accounts.namespace(named: "bea"))
                #expect(try await accounts.isTeamMember(teamID: devs, accountID: bea.id))
                #expect(try await accounts.teamSync(teamID: devs)?.lastUpdated != nil)

                // The new sign-in method is a notice to bea: in the bell and by mail.
                let notices = try await registry.notifications.store.userNotifications(userID: bea.id, page: 0, limit: 10)
                #expect(notices.map(\.kind) == ["external_login_linked"])
                let mails = try await registry.services.mail.mails(kind: MailKind("identity_notice"))
                #expect(mails.map(\.recipient) == ["bea@example.com"])
                #expect(mails.first?.subject == "A sign-in method was linked to your account bea")

                // Signed in again without the group: out. (An empty claim is "in no group".)
                #expect(try await Self.signIn(c, issuer: issuer, url: url, key: key, subject: "bea-sub", groups: []).status == .seeOther)
                #expect(try await !accounts.isTeamMember(teamID: devs, accountID: bea.id))

                // No claim in the ID token: the userinfo endpoint's (a single string) decides.
                issuer.userinfo.withLock { $0 = #"{"sub":"bea-sub","groups":"developers"}"# }
                #expect(try await Self.signIn(c, issuer: issuer, url: url, key: key, subject: "bea-sub", groups: nil).status == .seeOther)
                #expect(try await accounts.isTeamMember(teamID: devs, accountID: bea.id))
                #expect(issuer.userinfoRequests.withLock { $0 } == 1)
                // A userinfo answer about someone else is ignored: membership stays as it was.
                issuer.userinfo.withLock { $0 = #"{"sub":"someone-else","groups":[]}"# }
                #expect(try await Self.signIn(c, issuer: issuer, url: url, key: key, subject: "bea-sub", groups: nil).status == .seeOther)
                #expect(try await accounts.isTeamMember(teamID: devs, accountID: bea.id))
                // Later sign-ins are not new sign-in methods: still one notice.
                #expect(try await registry.notifications.store.userNotifications(userID: bea.id, page: 0, limit: 10).count == 1)

                // Users of a synced team cannot be added or removed by hand; robots can (Quay).
                try await registry.createUser("carl")
                for (method, member) in [(HTTPRequest.Method.put, "carl"), (.delete, "bea")] {
                    let refused = try await S.send(c, method, path + "/members/\(member)", token: token)
                    #expect(refused.status == .badRequest)
                    #expect(S.object(refused)["error_message"] as? String == "Cannot call this method on an auth-synced team")
                }
                try await S.robot(registry, owner: "acme", short: "bot")
                #expect(try await S.send(c, .put, path + "/members/acme+bot", token: token).status == .ok)

                // The usage logs name the group that decided.
                let logs = try await Self.storedLogs(registry)
                #expect(logs.contains { $0.kind == "org_enable_team_sync" && $0.metadata.contains("developers") })
                #expect(logs.filter { $0.kind == "org_add_team_member" && $0.metadata.contains("synced_group") }.count == 2)
                #expect(logs.filter { $0.kind == "org_remove_team_member" && $0.metadata.contains("synced_group") }.count == 1)

                // Syncing off: the members stay and are editable again.
                #expect(try await S.send(c, .delete, path + "/syncing", token: token).status == .ok)
                #expect(try await accounts.teamSync(teamID: devs) == nil)
                #expect(try await S.send(c, .delete, path + "/members/bea", token: token).status == .noContent)
                #expect(try await Self.storedLogs(registry).contains { $0.kind == "org_disable_team_sync" })
            }
        }
    }

    /// The store's rules: only the provider's own bindings move, and the organization's last
    /// admin is never removed by a sign-in.
    @Test(arguments: TestBackend.available)
    func syncKeepsTheLastAdminAndOtherProvidersBindings(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, _ in
            let accounts = registry.services.accounts
            let owner = try await registry.createUser("owner")
            let acme = try await accounts.createOrganization(name: "acme", email: nil, creatorID: owner.id)
            let owners = try #require(try await accounts.orgTeam(organizationID: acme.id, name: "owners"))
            _ = try await accounts.setTeamSync(teamID: owners.id, provider: "idp", groupName: "admins")
            let elsewhere = try await accounts.upsertTeam(organizationID: acme.id, name: "elsewhere", role: .member)
            _ = try await accounts.setTeamSync(teamID: elsewhere, provider: "other-idp", groupName: "admins")

            var outcome = try await accounts.syncTeams(userID: owner.id, provider: "idp", groups: [])
            #expect(outcome.removed.isEmpty && outcome.keptLastAdmin.map(\.team) == ["owners"])
            #expect(try await accounts.isTeamMember(teamID: owners.id, accountID: owner.id))

            let second = try await registry.createUser("second")
            try await accounts.addTeamMember(teamID: owners.id, userID: second.id)
            outcome = try await accounts.syncTeams(userID: owner.id, provider: "idp", groups: ["admins"])
            #expect(outcome.added.isEmpty && outcome.removed.isEmpty && outcome.keptLastAdmin.isEmpty)
            #expect(try await !accounts.isTeamMember(teamID: elsewhere, accountID: owner.id))
            outcome = try await accounts.syncTeams(userID: owner.id, provider: "idp", groups: [])
            #expect(outcome.removed.map(\.team) == ["owners"] && outcome.keptLastAdmin.isEmpty)
            #expect(try await !accounts.isTeamMember(teamID: owners.id, accountID: owner.id))
        }
    }

    /// Without a provider that has a groups claim, enabling is refused (the matrix checks who may
    /// call it at all); disabling still works.
    @Test func enablingNeedsAProviderWithAGroupsClaim() async throws {
        try await TestRegistry.with(.sqlite) { registry, c in
            let owner = try await registry.createUser("owner")
            let acme = try await registry.services.accounts.createOrganization(name: "acme", email: nil, creatorID: owner.id)
            _ = try await registry.services.accounts.upsertTeam(organizationID: acme.id, name: "devs", role: .member)
            let token = try await S.token(registry, "owner")
            let refused = try await S.send(c, .post, "/api/v1/organization/acme/team/devs/syncing", token: token, json: #"{"group_name":"devs"}"#)
            #expect(refused.status == .badRequest)
            #expect((S.object(refused)["error_message"] as? String)?.contains("groupsClaim") == true)
            #expect(try await S.send(c, .delete, "/api/v1/organization/acme/team/devs/syncing", token: token).status == .ok)
            let listing = S.object(try await S.send(c, .get, "/api/v1/organization/acme/team/devs/members", token: token))
            #expect(listing["synced"] == nil && listing["can_sync"] == nil)
        }
    }

    /// Quay's detach: unlinking a sign-in is a notice and a usage-log entry; the only way in of a
    /// user without a password cannot be unlinked; an identity not linked changes nothing.
    @Test(arguments: TestBackend.available)
    func detachingASignIn(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let accounts = registry.services.accounts
            let carol = try await registry.createUser("carol")
            try await accounts.linkExternalLogin(userID: carol.id, service: "idp", issuer: "https://idp.example", subject: "carol-sub")
            let token = try await S.token(registry, "carol")
            let nothing = try await S.send(c, .post, "/api/v1/detachexternal/other", token: token)
            #expect(nothing.status == .ok && S.object(nothing)["success"] as? Bool == true)
            #expect(try await registry.notifications.store.userNotifications(userID: carol.id, page: 0, limit: 10).isEmpty)
            #expect(try await S.send(c, .post, "/api/v1/detachexternal/idp", token: token).status == .ok)
            #expect(try await accounts.externalLogins(userID: carol.id).isEmpty)
            #expect(try await accounts.user(linkedTo: "https://idp.example", subject: "carol-sub") == nil)
            let notices = try await registry.notifications.store.userNotifications(userID: carol.id, page: 0, limit: 10)
            #expect(notices.map(\.kind) == ["external_login_unlinked"])
            #expect(try await Self.storedLogs(registry).contains { $0.kind == "detach_external_login" && $0.metadata.contains("carol-sub") })

            // A user created by single sign-on has no password: its only identity stays.
            let dave = try await accounts.createUser(fromSignup: "none", name: "dave", email: nil, superuser: false)
            #expect(dave == nil)
            try await accounts.saveOIDCSignup(tokenHash: "h", OIDCSignupRecord(provider: "idp", issuer: "https://idp.example", subject: "dave-sub",
                                                                              email: nil, suggestedName: "dave"),
                                              expiresAt: Clock.nowMillis() + 60_000)
            let (daveUser, _) = try #require(try await accounts.createUser(fromSignup: "h", name: "dave", email: nil, superuser: false))
            let daveToken = try await S.token(registry, "dave")
            let refused = try await S.send(c, .post, "/api/v1/detachexternal/idp", token: daveToken)
            #expect(refused.status == .badRequest)
            #expect((S.object(refused)["error_message"] as? String)?.contains("only way to sign in") == true)
            #expect(try await accounts.externalLogins(userID: daveUser.id).count == 1)
        }
    }

    /// An organization robot's federation changes notify the organization's admins (bell and
    /// mail); only the first exchange under a federation entry does, not every CI run.
    @Test(arguments: TestBackend.available)
    func robotFederationNotices(backend: TestBackend) async throws {
        try await TestIssuer.with { issuer, url in
            let key = TestIssuer.key("k1")
            issuer.publish([key])
            try await TestRegistry.with(backend, configure: { $0.security.allowPrivateTargets = true }) { registry, c in
                let accounts = registry.services.accounts
                let owner = try await accounts.createUser(name: "owner", passwordHash: try await registry.services.hasher.hash(TestRegistry.password),
                                                        email: "owner@example.com")
                let acme = try await accounts.createOrganization(name: "acme", email: nil, creatorID: owner.id)
                let token = try await S.token(registry, "owner")
                let (robot, _) = try await registry.services.createRobot(owner: acme, shortName: "ci")
                let federation = "/api/v1/organization/acme/robots/ci/federation"
                let body = #"[{"issuer":"\#(url)","subject":"ci"}]"#
                #expect(try await S.send(c, .post, federation, token: token, json: body).status == .ok)

                func kinds() async throws -> [String] {
                    try await registry.notifications.store.userNotifications(userID: owner.id, page: 0, limit: 50).map(\.kind).sorted()
                }
                #expect(try await kinds() == ["robot_federation_changed"])
                let oidc = try await TestIssuer.token(issuer: url, subject: "ci", key: key)
                for _ in 0..<3 {
                    let exchanged = try await c.send(.get, RobotFederationExchange.path, headers: RobotFederationExchangeTests.basic(robot.name, oidc))
                    #expect(exchanged.status == .ok)
                }
                #expect(try await kinds() == ["robot_federation_changed", "robot_federation_first_exchange"])
                let notice = try #require(try await registry.notifications.store.userNotifications(userID: owner.id, page: 0, limit: 50)
                    .first { $0.kind == "robot_federation_first_exchange" })
                #expect(notice.organization == "acme" && notice.metadata == .object(["robot": .string("acme+ci"), "issuer": .string(url),
                                                                                    "subject": .string("ci")]))
                // A refused exchange notifies nobody.
                let stranger = try await TestIssuer.token(issuer: url, subject: "someone", key: key)
                #expect(try await c.send(.get, RobotFederationExchange.path, headers: RobotFederationExchangeTests.basic(robot.name, stranger))
                    .status == .unauthorized)
                // Removing the federation is a notice too; the mail went to the confirmed address.
                #expect(try await S.send(c, .delete, federation, token: token).status == .noContent)
                #expect(try await kinds() == ["robot_federation_changed", "robot_federation_changed", "robot_federation_first_exchange"])
                let mails = try await registry.services.mail.mails(kind: MailKind("identity_notice"))
                #expect(mails.count == 3 && mails.allSatisfy { $0.recipient == "owner@example.com" })
                #expect(mails.contains { $0.subject == "Robot acme+ci: first keyless sign-in from \(url)" })
            }
        }
    }
}
