import Accounts
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Global messages (the maintenance banner), entity and repository lookups, Docker's v1 search,
/// and the 404 of an unknown repository sub-route.
@Suite("API v1: messages, lookups, v1 search")
struct MessagesAndLookupTests {
    typealias S = OrgTestSupport

    @Test(arguments: TestBackend.available)
    func messagesArePostedByASuperuserAndReadByAnyone(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let admin = try await S.token(registry, "admin")
            try await registry.createUser("alice")
            let alice = try await S.token(registry, "alice")
            let body = #"{"message":{"content":"Maintenance **tonight**","media_type":"text/markdown","severity":"warning"}}"#
            #expect(try await S.send(c, .post, "/api/v1/messages", token: alice, json: body).status == .forbidden)
            #expect(try await S.send(c, .post, "/api/v1/messages", token: nil, json: body).status == .unauthorized)
            let created = try await S.send(c, .post, "/api/v1/messages", token: admin, json: body)
            #expect(created.status == .created, "\(String(buffer: created.body))")
            let uuid = try #require(S.object(created)["uuid"] as? String)

            for (json, fragment) in [
                (#"{"message":{"content":"x","media_type":"text/markdown","severity":"fatal"}}"#, "severity"),
                (#"{"message":{"content":"   ","media_type":"text/markdown","severity":"info"}}"#, "content"),
                (#"{"message":{"content":"x","media_type":"text/html","severity":"info"}}"#, "media_type"),
                (#"{"message":{"media_type":"text/plain","severity":"info"}}"#, "content"),
                (#"{"content":"x"}"#, "message"),
            ] {
                let r = try await S.send(c, .post, "/api/v1/messages", token: admin, json: json)
                #expect(r.status == .badRequest, "\(json)")
                #expect((S.object(r)["error_message"] as? String)?.contains(fragment) == true, "\(json): \(String(buffer: r.body))")
            }

            let listed = try #require(S.object(try await S.send(c, .get, "/api/v1/messages", token: nil))["messages"] as? [[String: Any]])
            #expect(listed.count == 1)
            #expect(listed.first?["uuid"] as? String == uuid)
            #expect(listed.first?["content"] as? String == "Maintenance **tonight**")
            #expect(listed.first?["media_type"] as? String == "text/markdown")
            #expect(listed.first?["severity"] as? String == "warning")

            #expect(try await S.send(c, .delete, "/api/v1/message/\(uuid)", token: alice).status == .forbidden)
            #expect(try await S.send(c, .delete, "/api/v1/message/\(uuid)", token: admin).status == .noContent)
            #expect(try await S.send(c, .delete, "/api/v1/message/\(uuid)", token: admin).status == .notFound)
            #expect((S.object(try await S.send(c, .get, "/api/v1/messages", token: nil))["messages"] as? [Any])?.isEmpty == true)
        }
    }

    @Test(arguments: TestBackend.available)
    func entitiesShowOnlyWhatTheCallerMaySee(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let accounts = registry.services.accounts
            let alice = try await registry.createUser("alice")
            let bob = try await registry.createUser("bob")
            try await registry.createUser("alfred")
            let acme = try await accounts.createOrganization(name: "acme", email: nil, creatorID: alice.id)
            _ = try await accounts.upsertTeam(organizationID: acme.id, name: "alpha", role: .member)
            try await S.robot(registry, owner: "acme", short: "albot")
            let aliceToken = try await S.token(registry, "alice")
            let bobToken = try await S.token(registry, "bob")

            func names(_ r: TestResponse) -> [String: String] {
                let results = S.object(r)["results"] as? [[String: Any]] ?? []
                return Dictionary(results.map { ($0["name"] as? String ?? "?", "\($0["kind"] ?? "?")\(($0["is_robot"] as? Bool) == true ? "+robot" : "")") },
                                  uniquingKeysWith: { a, _ in a })
            }
            let mine = names(try await S.send(c, .get, "/api/v1/entities/al?namespace=acme&includeTeams=true&includeOrgs=true", token: aliceToken))
            #expect(mine["alice"] == "user")
            #expect(mine["alfred"] == "user")
            #expect(mine["alpha"] == "team")
            #expect(mine["acme+albot"] == "user+robot")
            #expect(mine["bob"] == nil)
            // bob is not in acme: no teams, no robots.
            let theirs = names(try await S.send(c, .get, "/api/v1/entities/al?namespace=acme&includeTeams=true", token: bobToken))
            #expect(theirs["alice"] == "user")
            #expect(theirs["alpha"] == nil)
            #expect(theirs["acme+albot"] == nil)
            #expect(names(try await S.send(c, .get, "/api/v1/entities/acme%2Bal?namespace=acme", token: bobToken))["acme+albot"] == nil)
            #expect(names(try await S.send(c, .get, "/api/v1/entities/ac?includeOrgs=true", token: bobToken))["acme"] == "org")
            #expect(try await S.send(c, .get, "/api/v1/entities/al", token: nil).status == .unauthorized)
            _ = bob
        }
    }

    @Test(arguments: TestBackend.available)
    func findRepositoriesAndDockerSearchShowReadableRepositories(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            try await registry.createUser("alice")
            try await registry.createUser("bob")
            let push = try #require(try await c.token(.init("alice"), scopes: ["repository:alice/webapp:pull,push", "repository:alice/websecret:pull,push"]))
            try await c.pushImage("alice/webapp", tag: "v1", token: push)
            try await c.pushImage("alice/websecret", tag: "v1", token: push)
            let aliceToken = try await S.token(registry, "alice")
            #expect(try await S.send(c, .post, "/api/v1/repository/alice/webapp/changevisibility", token: aliceToken,
                                     json: #"{"visibility":"public"}"#).status == .ok)
            let bobToken = try await S.token(registry, "bob")

            func found(_ token: String?) async throws -> [String] {
                let r = try await S.send(c, .get, "/api/v1/find/repositories?query=WEB", token: token)
                #expect(r.status == .ok)
                return (S.object(r)["results"] as? [[String: Any]] ?? []).compactMap { ($0["href"] as? String) }
            }
            #expect(try await found(aliceToken) == ["/repository/alice/webapp", "/repository/alice/websecret"])
            #expect(try await found(bobToken) == ["/repository/alice/webapp"])
            #expect(try await found(nil) == ["/repository/alice/webapp"])
            #expect(try await S.send(c, .get, "/api/v1/find/repositories?query=web&page=0", token: nil).status == .badRequest)
            // LIKE wildcards in the query are literal.
            #expect((S.object(try await S.send(c, .get, "/api/v1/find/repositories?query=%25", token: aliceToken))["results"] as? [Any])?.isEmpty == true)

            #expect(try await c.send(.get, "/v1/_ping").status == .ok)
            func search(_ headers: HTTPFields, _ query: String = "q=web") async throws -> (HTTPResponse.Status, [String: Any]) {
                let r = try await c.send(.get, "/v1/search?\(query)", headers: headers)
                return (r.status, r.json as? [String: Any] ?? [:])
            }
            let (status, anonymous) = try await search([:])
            #expect(status == .ok)
            #expect(anonymous["num_results"] as? Int == 1)
            #expect(anonymous["query"] as? String == "web")
            #expect((anonymous["results"] as? [[String: Any]])?.first?["name"] as? String == "alice/webapp")
            #expect((anonymous["results"] as? [[String: Any]])?.first?["is_public"] as? Bool == true)
            let (_, asAlice) = try await search(SuperuserAPITests.basic("alice", TestRegistry.password), "q=web&n=1&page=2")
            #expect(asAlice["num_results"] as? Int == 2)
            #expect(asAlice["num_pages"] as? Int == 2)
            #expect(asAlice["page"] as? Int == 2)
            #expect((asAlice["results"] as? [[String: Any]])?.map { $0["name"] as? String } == ["alice/websecret"])
            #expect(try await search(SuperuserAPITests.basic("alice", "wrong")).0 == .unauthorized)
            #expect(try await search([:], "q=web&n=0").0 == .badRequest)
        }
    }

    @Test(arguments: TestBackend.available)
    func unknownRepositorySubrouteSaysTheRouteIsUnknown(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let push = try #require(try await c.token(.init("admin"), scopes: ["repository:admin/app:pull,push"]))
            try await c.pushImage("admin/app", tag: "v1", token: push)
            let admin = try await S.token(registry, "admin")
            let r = try await S.send(c, .get, "/api/v1/repository/admin/app/nonsense", token: admin)
            #expect(r.status == .notFound)
            let message = try #require(S.object(r)["error_message"] as? String)
            #expect(message.contains("unknown API route"), "\(message)")
            #expect(!message.contains("repository not found"))
            // A repository that does not exist is still "repository not found".
            let missing = try await S.send(c, .get, "/api/v1/repository/admin/nothing", token: admin)
            #expect(S.object(missing)["error_message"] as? String == "repository not found")
        }
    }
}
