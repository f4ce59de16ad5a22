import Accounts
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Registry
import SlipwayTestSupport
import Testing

/// Account settings, account deletion and public profiles (`AccountAPI`).
@Suite("API v1: account settings, deletion and profiles")
struct AccountAPITests {
    static let json: HTTPFields = [.contentType: "application/json"]

    static func apiToken(_ registry: TestRegistry, user: String, scopes: [String] = Array(APICaller.allScopes)) async throws -> String {
        let ns = try #require(try await registry.services.accounts.namespace(named: user))
        let token = APITokens.generate()
        try await registry.services.accounts.createAPIToken(userID: ns.id, tokenHash: APITokens.hash(token), scopes: scopes, description: "test")
        return token
    }

    /// Signs in through the web flow and returns (session cookie header, CSRF token).
    static func signIn(_ c: RegistryClient, _ user: String, _ password: String = TestRegistry.password) async throws -> (String, String) {
        let r = try await c.send(.post, "/api/v1/signin", headers: json,
                                 body: ByteBuffer(string: #"{"username":"\#(user)","password":"\#(password)"}"#))
        #expect(r.status == .ok)
        let setCookie = try #require(r.headers[.setCookie])
        let cookie = try #require(setCookie.split(separator: ";").first.map(String.init))
        let csrf = try #require((r.json as? [String: Any])?["csrf_token"] as? String)
        return (cookie, csrf)
    }

    static func registryLogin(_ c: RegistryClient, _ user: String, _ password: String) async throws -> HTTPResponse.Status {
        let header = "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        return try await c.client.executeRequest(uri: "/v2/auth?service=localhost", method: .get, headers: [.authorization: header], body: nil).status
    }

    @Test(arguments: TestBackend.available)
    func settings(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            try await registry.createUser("bob")
            try await registry.services.accounts.createUser(name: "carol", passwordHash: try await registry.services.hasher.hash("carolpass1"),
                                                         email: "carol@example.com")
            let bob = try await Self.apiToken(registry, user: "bob")
            let bobRead = try await Self.apiToken(registry, user: "bob", scopes: ["user:read"])

            let before = try #require(try await c.send(.get, "/api/v1/user/", token: bob).json as? [String: Any])
            #expect(before["tag_expiration_s"] as? Int == 1_209_600)

            let put = try await c.send(.put, "/api/v1/user/", token: bob, headers: Self.json,
                                       body: ByteBuffer(string: #"{"email":"bob@example.com","tag_expiration_s":86400}"#))
            #expect(put.status == .ok)
            let view = try #require(put.json as? [String: Any])
            #expect(view["username"] as? String == "bob")
            #expect(view["email"] as? String == "bob@example.com")
            #expect(view["tag_expiration_s"] as? Int == 86_400)
            let after = try #require(try await c.send(.get, "/api/v1/user/", token: bob).json as? [String: Any])
            #expect(after["email"] as? String == "bob@example.com")
            #expect(after["tag_expiration_s"] as? Int == 86_400)
            // Every time-machine choice of the guide is accepted.
            for seconds in [0, 604_800, 1_209_600, 2_419_200] {
                let ok = try await c.send(.put, "/api/v1/user/", token: bob, headers: Self.json, body: ByteBuffer(string: #"{"tag_expiration_s":\#(seconds)}"#))
                #expect(ok.status == .ok, "\(seconds)")
            }

            // Invalid input is a 400 with Quay's body, and changes nothing.
            let invalid = [
                #"{"tag_expiration_s":3600}"#, #"{"tag_expiration_s":-1}"#, #"{"tag_expiration_s":"week"}"#,
                #"{"email":"nope"}"#, #"{"email":"a@b"}"#, #"{"email":"a b@c.test"}"#, #"{"email":"@c.test"}"#,
                #"{"email":"CAROL@example.com"}"#,  // another user's address
                #"{"password":"short"}"#, #"{"password":"has white space"}"#, "not json",
            ]
            for body in invalid {
                let r = try await c.send(.put, "/api/v1/user/", token: bob, headers: Self.json, body: ByteBuffer(string: body))
                #expect(r.status == .badRequest, "\(body): \(r.status)")
                #expect((r.json as? [String: Any])?["error_type"] as? String == "invalid_request", "\(body)")
            }
            let unchanged = try #require(try await c.send(.get, "/api/v1/user/", token: bob).json as? [String: Any])
            #expect(unchanged["email"] as? String == "bob@example.com")
            #expect(unchanged["tag_expiration_s"] as? Int == 2_419_200)

            // user:read is not enough; anonymous callers are asked to sign in.
            let body = ByteBuffer(string: #"{"tag_expiration_s":0}"#)
            #expect(try await c.send(.put, "/api/v1/user/", token: bobRead, headers: Self.json, body: body).status == .forbidden)
            #expect(try await c.send(.put, "/api/v1/user/", headers: Self.json, body: body).status == .unauthorized)
        }
    }

    @Test(arguments: TestBackend.available)
    func passwordChangeEndsOtherSessions(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            try await registry.createUser("bob")
            let token = try await Self.apiToken(registry, user: "bob")
            let (cookieA, csrfA) = try await Self.signIn(c, "bob")
            let (cookieB, _) = try await Self.signIn(c, "bob")

            // Writes through a session need its CSRF token.
            let noCSRF = try await c.send(.put, "/api/v1/user/", headers: [.contentType: "application/json", .cookie: cookieA],
                                          body: ByteBuffer(string: #"{"password":"newpassword1"}"#))
            #expect(noCSRF.status == .forbidden)
            let change = try await c.send(.put, "/api/v1/user/",
                                          headers: [.contentType: "application/json", .cookie: cookieA, .init("X-CSRF-Token")!: csrfA],
                                          body: ByteBuffer(string: #"{"password":"newpassword1"}"#))
            #expect(change.status == .ok)

            // The session that made the change stays; the other browser is signed out.
            #expect(try await c.send(.get, "/api/v1/user/", headers: [.cookie: cookieA]).status == .ok)
            #expect(try await c.send(.get, "/api/v1/user/", headers: [.cookie: cookieB]).status == .unauthorized)
            // API tokens are not passwords: they keep working (as in Quay).
            #expect(try await c.send(.get, "/api/v1/user/", token: token).status == .ok)
            #expect(try await Self.registryLogin(c, "bob", TestRegistry.password) == .unauthorized)
            #expect(try await Self.registryLogin(c, "bob", "newpassword1") == .ok)
        }
    }

    @Test(arguments: TestBackend.available)
    func deletion(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let accounts = registry.services.accounts
            let bobNS = try await registry.createUser("bob")
            let carol = try await registry.createUser("carol")
            let bob = try await Self.apiToken(registry, user: "bob")
            let (cookie, _) = try await Self.signIn(c, "bob")

            // bob's things: a repository, a robot, an app token, an organization he alone administers.
            let push = try #require(try await c.token(.init("bob"), scopes: ["repository:bob/app:pull,push"]))
            try await c.pushImage("bob/app", tag: "v1", token: push)
            _ = try await registry.services.createRobot(owner: bobNS, shortName: "ci")
            let appToken = try #require(((try await c.send(.post, "/api/v1/user/apptoken", token: bob, headers: Self.json,
                                                            body: ByteBuffer(string: #"{"title":"laptop"}"#))).json as? [String: Any])?["token"] as? [String: Any])
            let code = try #require(appToken["token_code"] as? String)
            #expect(try await c.send(.post, "/api/v1/organization/", token: bob, headers: Self.json,
                                     body: ByteBuffer(string: #"{"name":"bobco"}"#)).status == .created)
            let bobco = try #require(try await accounts.namespace(named: "bobco"))

            // The last admin of an organization cannot leave it stranded; a robot in the owners
            // team does not count as another admin.
            let owners = try await accounts.upsertTeam(organizationID: bobco.id, name: "owners", role: .admin)
            let (orgRobot, _) = try await registry.services.createRobot(owner: bobco, shortName: "deployer")
            try await accounts.addTeamMember(teamID: owners, userID: orgRobot.namespace.id)
            let refused = try await c.send(.delete, "/api/v1/user/", token: bob)
            #expect(refused.status == .badRequest)
            #expect(((refused.json as? [String: Any])?["detail"] as? String)?.contains("bobco") == true)
            #expect(try await accounts.namespace(named: "bob") != nil)

            // With carol as a second admin, bob may go.
            try await accounts.addTeamMember(teamID: owners, userID: carol.id)
            #expect(try await c.send(.delete, "/api/v1/user/", token: bob).status == .noContent)

            // Every credential fails at once, on the API and the token endpoint.
            #expect(try await c.send(.get, "/api/v1/user/", token: bob).status == .unauthorized)
            #expect(try await c.send(.get, "/api/v1/user/", token: code).status == .unauthorized)
            #expect(try await c.send(.get, "/api/v1/user/", headers: [.cookie: cookie]).status == .unauthorized)
            #expect(try await Self.registryLogin(c, "bob", TestRegistry.password) == .unauthorized)
            #expect(try await Self.registryLogin(c, "$app", code) == .unauthorized)
            // His namespace's contents went with him; the organization stays with carol.
            #expect(try await accounts.repository(RepositoryPath(namespace: "bob", name: "app")) == nil)
            #expect(try await accounts.namespace(named: "bob+ci") == nil)
            #expect(try await accounts.teamRole(userID: carol.id, organizationID: bobco.id) == .admin)
            #expect(try await c.send(.get, "/api/v1/users/bob").status == .notFound)
            // The name is free again.
            try await registry.createUser("bob")
        }
    }

    @Test(arguments: TestBackend.available)
    func publicProfiles(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let bob = try await registry.services.accounts.createUser(name: "bob", passwordHash: try await registry.services.hasher.hash("bobpass123"),
                                                                   email: "Bob@Example.com")
            let admin = try await Self.apiToken(registry, user: "admin")
            _ = try await registry.services.createRobot(owner: bob, shortName: "ci")

            for token in [nil, admin] {
                let r = try await c.send(.get, "/api/v1/users/bob", token: token)
                #expect(r.status == .ok)
                let profile = try #require(r.json as? [String: Any])
                #expect(profile["username"] as? String == "bob")
                #expect(profile["is_org"] as? Bool == false)
                #expect(profile["email"] == nil, "the public profile must not reveal the address")
                let avatar = try #require(profile["avatar"] as? [String: Any])
                #expect(avatar["kind"] as? String == "user")
                // Quay's current avatar hash (SHA-256 of the address), the same on every endpoint.
                let sha256 = SHA256.hash(data: Data("bob@example.com".utf8)).map { String(format: "%02x", $0) }.joined()
                #expect(avatar["hash"] as? String == sha256)
            }
            // Organizations, robots and unknown names are not users.
            for name in ["library", "bob+ci", "nobody", "BOB"] {
                let r = try await c.send(.get, "/api/v1/users/\(name)")
                #expect(r.status == .notFound, "\(name)")
                #expect((r.json as? [String: Any])?["error_type"] as? String == "not_found")
            }
        }
    }
}
