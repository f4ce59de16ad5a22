import Accounts
import Foundation
import HTTPTypes
import NIOCore
import Registry
import SlipwayTestSupport
import Testing

@Suite("API v1: default permissions (prototypes)")
struct PrototypeTests {
    typealias S = OrgTestSupport

    @Test(arguments: TestBackend.available)
    func crudAndValidation(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let accounts = registry.services.accounts
            let alice = try await registry.createUser("alice")
            let bob = try await registry.createUser("bob")
            let carol = try await registry.createUser("carol")
            let aliceToken = try await S.token(registry, "alice")
            let bobToken = try await S.token(registry, "bob")
            let carolToken = try await S.token(registry, "carol")
            let acme = try await accounts.createOrganization(name: "acme", email: nil, creatorID: alice.id)
            let other = try await accounts.createOrganization(name: "other", email: nil, creatorID: carol.id)
            let devs = try await accounts.upsertTeam(organizationID: acme.id, name: "devs", role: .creator)
            try await accounts.addTeamMember(teamID: devs, userID: bob.id)
            _ = try await accounts.upsertTeam(organizationID: other.id, name: "theirs", role: .member)
            try await S.robot(registry, owner: "acme", short: "ci")
            try await S.robot(registry, owner: "other", short: "ci")
            let base = "/api/v1/organization/acme/prototypes"

            // For anyone → team devs read.
            let teamProto = try await S.send(c, .post, base, token: aliceToken, json: #"{"role":"read","delegate":{"name":"devs","kind":"team"}}"#)
            #expect(teamProto.status == .ok)
            let teamView = S.object(teamProto)
            #expect(teamView["role"] as? String == "read")
            #expect(teamView.keys.contains("activating_user"))
            #expect(teamView["activating_user"] is NSNull)
            #expect((teamView["delegate"] as? [String: Any])?["kind"] as? String == "team")
            #expect((teamView["delegate"] as? [String: Any])?["name"] as? String == "devs")
            let teamID = try #require(teamView["id"] as? String)

            // For bob's repositories → carol (an outside user) write.
            let userProto = S.object(try await S.send(c, .post, base, token: aliceToken,
                json: #"{"role":"write","delegate":{"name":"carol","kind":"user"},"activating_user":{"name":"bob"}}"#))
            let delegate = try #require(userProto["delegate"] as? [String: Any])
            #expect(delegate["name"] as? String == "carol")
            #expect(delegate["kind"] as? String == "user")
            #expect(delegate["is_robot"] as? Bool == false)
            #expect(delegate["is_org_member"] as? Bool == false)
            let activating = try #require(userProto["activating_user"] as? [String: Any])
            #expect(activating["name"] as? String == "bob")
            #expect(activating["is_org_member"] as? Bool == true)

            // A robot of the organization as delegate.
            let robotProto = S.object(try await S.send(c, .post, base, token: aliceToken, json: #"{"role":"admin","delegate":{"name":"acme+ci","kind":"user"}}"#))
            #expect((robotProto["delegate"] as? [String: Any])?["is_robot"] as? Bool == true)

            let list = S.object(try await S.send(c, .get, base, token: aliceToken))
            #expect((list["prototypes"] as? [[String: Any]])?.count == 3)
            #expect((list["prototypes"] as? [[String: Any]])?.first?["id"] as? String == teamID)

            // Validation: every field is checked.
            for body in [
                #"{"role":"owner","delegate":{"name":"devs","kind":"team"}}"#,
                #"{"role":"read","delegate":{"name":"devs","kind":"org"}}"#,
                #"{"role":"read","delegate":{"name":"ghost","kind":"user"}}"#,
                #"{"role":"read","delegate":{"name":"ghosts","kind":"team"}}"#,
                #"{"role":"read","delegate":{"name":"theirs","kind":"team"}}"#,
                #"{"role":"read","delegate":{"name":"other+ci","kind":"user"}}"#,
                #"{"role":"read","delegate":{"name":"other","kind":"user"}}"#,
                #"{"role":"read","delegate":{"name":"devs","kind":"team"},"activating_user":{"name":"ghost"}}"#,
                #"{"role":"read","delegate":{"name":"devs","kind":"team"},"activating_user":{"name":"other+ci"}}"#,
                #"{"role":"read"}"#,
                #"{"delegate":{"name":"devs","kind":"team"}}"#,
                #"{"role":"read","delegate":{"name":"devs"}}"#,
                "not json",
            ] {
                let bad = try await S.send(c, .post, base, token: aliceToken, json: body)
                #expect(bad.status == .badRequest, "\(body)")
                #expect(S.object(bad)["error_type"] as? String == "invalid_request")
            }
            #expect(try await accounts.prototypes(organizationID: acme.id).count == 3)

            // Update and delete.
            let changed = try await S.send(c, .put, "\(base)/\(teamID)", token: aliceToken, json: #"{"role":"write"}"#)
            #expect(changed.status == .ok)
            #expect(S.object(changed)["role"] as? String == "write")
            #expect(try await S.send(c, .put, "\(base)/\(teamID)", token: aliceToken, json: #"{"role":"boss"}"#).status == .badRequest)
            #expect(try await S.send(c, .put, "\(base)/\(UUID().uuidString.lowercased())", token: aliceToken, json: #"{"role":"read"}"#).status == .notFound)

            // Isolation: another organization's admin cannot reach acme's prototypes, even by id.
            #expect(try await S.send(c, .get, base, token: carolToken).status == .forbidden)
            #expect(try await S.send(c, .put, "/api/v1/organization/other/prototypes/\(teamID)", token: carolToken, json: #"{"role":"admin"}"#).status == .notFound)
            #expect(try await S.send(c, .delete, "/api/v1/organization/other/prototypes/\(teamID)", token: carolToken).status == .notFound)
            #expect(try await S.send(c, .delete, "\(base)/\(teamID)", token: carolToken).status == .forbidden)
            // Members who are not admins neither.
            #expect(try await S.send(c, .get, base, token: bobToken).status == .forbidden)
            #expect(try await S.send(c, .post, base, token: bobToken, json: #"{"role":"read","delegate":{"name":"devs","kind":"team"}}"#).status == .forbidden)
            #expect(try await S.send(c, .get, base, token: nil).status == .unauthorized)
            #expect(try await accounts.prototype(organizationID: acme.id, uuid: teamID)?.role == .write)

            #expect(try await S.send(c, .delete, "\(base)/\(teamID)", token: aliceToken).status == .noContent)
            #expect(try await S.send(c, .delete, "\(base)/\(teamID)", token: aliceToken).status == .notFound)
            #expect(try await accounts.prototypes(organizationID: acme.id).count == 2)
        }
    }

    /// Pushing into an organization applies its prototypes: checked through effective roles and
    /// through what each delegate may then do on `/v2`.
    @Test(arguments: TestBackend.available)
    func pushesApplyPrototypes(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let accounts = registry.services.accounts
            let owner = try await registry.createUser("owner")
            let alice = try await registry.createUser("alice")
            let bob = try await registry.createUser("bob")
            let carol = try await registry.createUser("carol")
            let dave = try await registry.createUser("dave")
            let erin = try await registry.createUser("erin")
            let ownerToken = try await S.token(registry, "owner")
            let acme = try await accounts.createOrganization(name: "acme", email: nil, creatorID: owner.id)
            let creators = try await accounts.upsertTeam(organizationID: acme.id, name: "creators", role: .creator)
            try await accounts.addTeamMember(teamID: creators, userID: alice.id)
            try await accounts.addTeamMember(teamID: creators, userID: bob.id)
            let viewers = try await accounts.upsertTeam(organizationID: acme.id, name: "viewers", role: .member)
            try await accounts.addTeamMember(teamID: viewers, userID: carol.id)
            let bot = try await S.robot(registry, owner: "acme", short: "deployer")
            let base = "/api/v1/organization/acme/prototypes"
            for body in [
                // Anyone's repositories: the viewers team reads, the deployer robot writes.
                #"{"role":"read","delegate":{"name":"viewers","kind":"team"}}"#,
                #"{"role":"write","delegate":{"name":"acme+deployer","kind":"user"}}"#,
                // alice's repositories: dave (no team at all) writes.
                #"{"role":"write","delegate":{"name":"dave","kind":"user"},"activating_user":{"name":"alice"}}"#,
                // erin: admin for anyone, but only read on bob's — the creator-specific rule wins.
                #"{"role":"admin","delegate":{"name":"erin","kind":"user"}}"#,
                #"{"role":"read","delegate":{"name":"erin","kind":"user"},"activating_user":{"name":"bob"}}"#,
                // A rule naming the creator never weakens their own admin grant.
                #"{"role":"read","delegate":{"name":"bob","kind":"user"}}"#,
            ] {
                #expect(try await S.send(c, .post, base, token: ownerToken, json: body).status == .ok, "\(body)")
            }

            func push(_ user: String, _ repo: String) async throws -> Repository {
                let token = try #require(try await c.token(.init(user), scopes: ["repository:acme/\(repo):pull,push"]))
                try await c.pushImage("acme/\(repo)", tag: "v1", token: token)
                return try #require(try await accounts.repository(RepositoryPath(namespace: "acme", name: repo)))
            }
            let byAlice = try await push("alice", "from-alice")
            let byBob = try await push("bob", "from-bob")

            #expect(try await accounts.role(userID: alice.id, repository: byAlice) == .admin)
            #expect(try await accounts.role(userID: carol.id, repository: byAlice) == .read)
            #expect(try await accounts.role(userID: bot.id, repository: byAlice) == .write)
            #expect(try await accounts.role(userID: dave.id, repository: byAlice) == .write)
            #expect(try await accounts.role(userID: erin.id, repository: byAlice) == .admin)
            #expect(try await accounts.role(userID: bob.id, repository: byAlice) == .read)

            #expect(try await accounts.role(userID: bob.id, repository: byBob) == .admin)
            #expect(try await accounts.role(userID: carol.id, repository: byBob) == .read)
            #expect(try await accounts.role(userID: bot.id, repository: byBob) == .write)
            #expect(try await accounts.role(userID: dave.id, repository: byBob) == nil)
            #expect(try await accounts.role(userID: erin.id, repository: byBob) == .read)
            #expect(try await accounts.role(userID: alice.id, repository: byBob) == nil)

            // The team grant is visible through the team permissions API.
            let perms = S.object(try await S.send(c, .get, "/api/v1/organization/acme/team/viewers/permissions", token: ownerToken))
            #expect((perms["permissions"] as? [[String: Any]])?.compactMap { ($0["repository"] as? [String: Any])?["name"] as? String }.sorted()
                    == ["from-alice", "from-bob"])

            // /v2: carol pulls both but pushes neither; dave pushes alice's only.
            let carolPull = try #require(try await c.token(.init("carol"), scopes: ["repository:acme/from-bob:pull,push"]))
            #expect(try await c.send(.get, "/v2/acme/from-bob/manifests/v1", token: carolPull).status == .ok)
            #expect(try await c.send(.post, "/v2/acme/from-bob/blobs/uploads/", token: carolPull).status == .unauthorized)
            let davePush = try #require(try await c.token(.init("dave"), scopes: ["repository:acme/from-alice:pull,push"]))
            try await c.pushImage("acme/from-alice", tag: "v2", token: davePush)
            let daveOnBob = try #require(try await c.token(.init("dave"), scopes: ["repository:acme/from-bob:pull"]))
            #expect(try await c.send(.get, "/v2/acme/from-bob/manifests/v1", token: daveOnBob).status == .unauthorized)
            // erin administers alice's repository (delete allowed) but only reads bob's.
            let erinOnAlice = try #require(try await c.token(.init("erin"), scopes: ["repository:acme/from-alice:*"]))
            #expect(try await c.send(.post, "/v2/acme/from-alice/blobs/uploads/", token: erinOnAlice).status == .accepted)
            let erinOnBob = try #require(try await c.token(.init("erin"), scopes: ["repository:acme/from-bob:pull,push"]))
            #expect(try await c.send(.get, "/v2/acme/from-bob/manifests/v1", token: erinOnBob).status == .ok)
            #expect(try await c.send(.post, "/v2/acme/from-bob/blobs/uploads/", token: erinOnBob).status == .unauthorized)

            // Existing repositories are not touched by later prototypes, and user namespaces never get any.
            #expect(try await S.send(c, .post, base, token: ownerToken, json: #"{"role":"admin","delegate":{"name":"carol","kind":"user"}}"#).status == .ok)
            #expect(try await accounts.role(userID: carol.id, repository: byAlice) == .read)
            let own = try #require(try await c.token(.init("alice"), scopes: ["repository:alice/mine:pull,push"]))
            try await c.pushImage("alice/mine", tag: "v1", token: own)
            let mine = try #require(try await accounts.repository(RepositoryPath(namespace: "alice", name: "mine")))
            try await accounts.applyPrototypes(repository: mine, creatorID: alice.id)
            #expect(try await accounts.role(userID: carol.id, repository: mine) == nil)
        }
    }
}
