import Accounts
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Registry
import SlipwayTestSupport
import Testing

/// App-specific tokens, OAuth applications and their tokens, repository delegate tokens
/// (`TokenAPI`), and each of them as a registry credential (`$app`, `$oauthtoken`, `$token`).
@Suite("API v1: app tokens, OAuth applications, delegate tokens")
struct TokenAPITests {
    static let json: HTTPFields = [.contentType: "application/json"]

    static func post(_ c: RegistryClient, _ path: String, token: String?, _ body: String) async throws -> TestResponse {
        try await c.send(.post, path, token: token, headers: json, body: ByteBuffer(string: body))
    }

    static func object(_ r: TestResponse) throws -> [String: Any] {
        try #require(r.json as? [String: Any], "not a JSON object: \(r.status) \(String(buffer: r.body))")
    }

    /// The actions a registry token grants per requested repository, or nil when sign-in fails.
    static func granted(_ registry: TestRegistry, _ c: RegistryClient, _ user: String, _ secret: String,
                        _ scopes: [String]) async throws -> [String: Set<String>]? {
        guard let jwt = try await c.token(.init(user, secret), scopes: scopes) else { return nil }
        let claims = try await registry.services.tokens.verify(jwt, audience: "localhost")
        var out: [String: Set<String>] = [:]
        for access in claims.access { out[access.name, default: []].formUnion(access.actions) }
        return out
    }

    @Test(arguments: TestBackend.available)
    func appTokens(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            try await registry.createUser("bob")
            try await registry.createUser("carol")
            let bob = try await AccountAPITests.apiToken(registry, user: "bob")
            let carol = try await AccountAPITests.apiToken(registry, user: "carol")

            let created = try await Self.post(c, "/api/v1/user/apptoken", token: bob, #"{"title":"laptop"}"#)
            #expect(created.status == .ok)
            let token = try #require(try Self.object(created)["token"] as? [String: Any])
            let code = try #require(token["token_code"] as? String)
            let uuid = try #require(token["uuid"] as? String)
            #expect(code.count == 120)
            #expect(token["title"] as? String == "laptop")
            #expect(token["created"] is String)
            #expect(token["last_accessed"] is NSNull && token["expiration"] is NSNull)
            for body in ["{}", #"{"title":""}"#, #"{"title":"   "}"#, #"{"title":42}"#] {
                #expect(try await Self.post(c, "/api/v1/user/apptoken", token: bob, body).status == .badRequest, "\(body)")
            }
            // An app token acts with every scope: a token with user:admin alone cannot mint one.
            let userAdminOnly = try await AccountAPITests.apiToken(registry, user: "bob", scopes: ["user:read", "user:admin"])
            #expect(try await Self.post(c, "/api/v1/user/apptoken", token: userAdminOnly, #"{"title":"wider"}"#).status == .forbidden)

            // Listed and fetched without the code, which is shown once only.
            let list = try await c.send(.get, "/api/v1/user/apptoken", token: bob)
            let tokens = try #require(try Self.object(list)["tokens"] as? [[String: Any]])
            #expect(tokens.map { $0["uuid"] as? String } == [uuid])
            #expect(!String(buffer: list.body).contains(code))
            let one = try await c.send(.get, "/api/v1/user/apptoken/\(uuid)", token: bob)
            #expect(one.status == .ok)
            #expect((try Self.object(one)["token"] as? [String: Any])?["title"] as? String == "laptop")
            #expect(!String(buffer: one.body).contains(code))
            // Another user neither sees nor revokes it.
            #expect(try await c.send(.get, "/api/v1/user/apptoken/\(uuid)", token: carol).status == .notFound)
            #expect(try await c.send(.delete, "/api/v1/user/apptoken/\(uuid)", token: carol).status == .notFound)
            #expect((try Self.object(try await c.send(.get, "/api/v1/user/apptoken", token: carol))["tokens"] as? [Any])?.isEmpty == true)

            // `$app` + code is bob on the registry: push works, and the JWT names bob.
            let jwt = try #require(try await c.token(.init("$app", code), scopes: ["repository:bob/app:pull,push"]))
            try await c.pushImage("bob/app", tag: "v1", token: jwt)
            let claims = try await registry.services.tokens.verify(jwt, audience: "localhost")
            #expect(claims.sub.value == "bob")
            #expect(claims.context.entity_kind == "user")
            #expect(try await c.token(.init("$app", code + "x"), scopes: []) == nil)
            #expect(try await c.token(.init("$app", TestRegistry.password), scopes: []) == nil)
            #expect(try await c.token(.init("$app", ""), scopes: []) == nil)
            // ...and a bearer token for the API with all of bob's scopes.
            let me = try await c.send(.get, "/api/v1/user/", token: code)
            #expect(try Self.object(me)["username"] as? String == "bob")
            #expect(try await Self.post(c, "/api/v1/organization/", token: code, #"{"name":"bobco"}"#).status == .created)
            // Its use is recorded.
            let used = try #require(try Self.object(try await c.send(.get, "/api/v1/user/apptoken/\(uuid)", token: bob))["token"] as? [String: Any])
            #expect(used["last_accessed"] is String)

            // Revocation takes effect at once everywhere.
            #expect(try await c.send(.delete, "/api/v1/user/apptoken/\(uuid)", token: bob).status == .noContent)
            #expect(try await c.token(.init("$app", code), scopes: []) == nil)
            #expect(try await c.send(.get, "/api/v1/user/", token: code).status == .unauthorized)
            #expect(try await c.send(.get, "/api/v1/user/apptoken/\(uuid)", token: bob).status == .notFound)
            #expect(try await c.send(.delete, "/api/v1/user/apptoken/\(uuid)", token: bob).status == .notFound)
        }
    }

    @Test(arguments: TestBackend.available)
    func oauthApplications(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let accounts = registry.services.accounts
            let orgAdmin = try await registry.createUser("orgadmin")
            let bobNS = try await registry.createUser("bob")
            let acme = try await accounts.createOrganization(name: "acme", email: nil, creatorID: orgAdmin.id)
            let readers = try await accounts.upsertTeam(organizationID: acme.id, name: "readers", role: .member)
            try await accounts.addTeamMember(teamID: readers, userID: bobNS.id)
            _ = try await accounts.createOrganization(name: "other", email: nil, creatorID: bobNS.id)
            let admin = try await AccountAPITests.apiToken(registry, user: "orgadmin")
            let bob = try await AccountAPITests.apiToken(registry, user: "bob")
            let apps = "/api/v1/organization/acme/applications"

            let created = try await Self.post(c, apps, token: admin,
                                              #"{"name":"CI","redirect_uri":"https://ci.acme.test/cb","application_uri":"https://ci.acme.test","description":"builds","avatar_email":"ci@acme.test"}"#)
            #expect(created.status == .ok)
            let app = try Self.object(created)
            let clientID = try #require(app["client_id"] as? String)
            let secret = try #require(app["client_secret"] as? String)
            #expect(clientID.count == 20 && secret.count == 40)
            #expect(app["name"] as? String == "CI" && app["redirect_uri"] as? String == "https://ci.acme.test/cb")
            #expect(app["avatar_email"] as? String == "ci@acme.test")
            for body in [#"{"name":""}"#, #"{"redirect_uri":"https://x.test"}"#, #"{"name":"x","redirect_uri":"javascript:alert(1)"}"#,
                         #"{"name":"x","application_uri":"ftp://x.test"}"#, #"{"name":"x","avatar_email":"nope"}"#, "[]"] {
                #expect(try await Self.post(c, apps, token: admin, body).status == .badRequest, "\(body)")
            }

            let list = try #require(try Self.object(try await c.send(.get, apps, token: admin))["applications"] as? [[String: Any]])
            #expect(list.map { $0["client_id"] as? String } == [clientID])
            let fetched = try Self.object(try await c.send(.get, "\(apps)/\(clientID)", token: admin))
            #expect(fetched["client_secret"] as? String == secret, "the sealed secret opens to the same value")
            let updated = try await c.send(.put, "\(apps)/\(clientID)", token: admin, headers: Self.json,
                                           body: ByteBuffer(string: #"{"name":"CI 2","redirect_uri":"","application_uri":"https://ci.acme.test/2"}"#))
            #expect(updated.status == .ok)
            #expect(try Self.object(updated)["name"] as? String == "CI 2")
            #expect(try Self.object(updated)["avatar_email"] is NSNull)
            #expect(try await c.send(.put, "\(apps)/\(clientID)", token: admin, headers: Self.json,
                                     body: ByteBuffer(string: #"{"name":"CI 3"}"#)).status == .badRequest)
            #expect(try await c.send(.get, "\(apps)/NOSUCHCLIENT", token: admin).status == .notFound)
            // Another organization's application is not reachable through acme.
            let otherApp = try Self.object(try await Self.post(c, "/api/v1/organization/other/applications", token: bob, #"{"name":"theirs"}"#))
            let otherID = try #require(otherApp["client_id"] as? String)
            #expect(try await c.send(.get, "\(apps)/\(otherID)", token: admin).status == .notFound)
            #expect(try await c.send(.delete, "\(apps)/\(otherID)", token: admin).status == .notFound)
            // Members of acme are not its admins.
            #expect(try await c.send(.get, apps, token: bob).status == .forbidden)

            // Access tokens: validated scopes, shown once, scoped on the API.
            let tokens = "\(apps)/\(clientID)/tokens"
            for body in [#"{"scope":"repo:read super:user"}"#, #"{"scope":""}"#, #"{"scope":"bogus"}"#, "{}",
                         #"{"scope":"repo:read","expiration":0}"#, #"{"scope":"repo:read","name":""}"#] {
                #expect(try await Self.post(c, tokens, token: admin, body).status == .badRequest, "\(body)")
            }
            // An org:admin-only token hands out no scope it lacks itself.
            let orgAdminOnly = try await AccountAPITests.apiToken(registry, user: "orgadmin", scopes: ["org:admin", "repo:read"])
            #expect(try await Self.post(c, tokens, token: orgAdminOnly, #"{"scope":"user:admin"}"#).status == .forbidden)
            #expect(try await Self.post(c, tokens, token: orgAdminOnly, #"{"scope":"repo:write"}"#).status == .forbidden)
            #expect(try await Self.post(c, tokens, token: orgAdminOnly, #"{"scope":"repo:read org:admin"}"#).status == .ok)
            let issued = try Self.object(try await Self.post(c, tokens, token: admin, #"{"scope":"repo:read,user:read repo:read","name":"reader"}"#))
            let access = try #require(issued["access_token"] as? String)
            let tokenUUID = try #require(issued["uuid"] as? String)
            #expect(issued["scope"] as? String == "repo:read user:read")
            #expect(issued["expires_at"] is String)
            #expect(try Self.object(try await c.send(.get, "/api/v1/user/", token: access))["username"] as? String == "orgadmin")
            #expect(try await Self.post(c, "/api/v1/organization/", token: access, #"{"name":"nope"}"#).status == .forbidden)

            // On the registry (`$oauthtoken`) the token is the user capped by its scopes.
            let push = try #require(try await c.token(.init("orgadmin"), scopes: ["repository:acme/app:pull,push"]))
            try await c.pushImage("acme/app", tag: "v1", token: push)
            let read = try #require(try await Self.granted(registry, c, "$oauthtoken", access, ["repository:acme/app:pull,push,*"]))
            #expect(read["acme/app"] == ["pull"])
            let readJWT = try #require(try await c.token(.init("$oauthtoken", access), scopes: ["repository:acme/app:pull"]))
            let readClaims = try await registry.services.tokens.verify(readJWT, audience: "localhost")
            #expect(readClaims.sub.value == "orgadmin" && readClaims.context.entity_kind == "oauthtoken")
            let write = try #require(try Self.object(try await Self.post(c, tokens, token: admin, #"{"scope":"repo:write"}"#))["access_token"] as? String)
            #expect(try await Self.granted(registry, c, "$oauthtoken", write, ["repository:acme/app:pull,push,*"])?["acme/app"] == ["pull", "push"])
            // Creating a repository takes repo:create, and the scopes still cap what is granted.
            #expect(try await Self.granted(registry, c, "$oauthtoken", write, ["repository:acme/new:pull,push"])?["acme/new"] == [])
            let creator = try #require(try Self.object(try await Self.post(c, tokens, token: admin, #"{"scope":"repo:create repo:write"}"#))["access_token"] as? String)
            #expect(try await Self.granted(registry, c, "$oauthtoken", creator, ["repository:acme/new:pull,push,*"])?["acme/new"] == ["pull", "push"])
            #expect(try await Self.granted(registry, c, "$oauthtoken", access + "x", []) == nil)
            #expect(try await Self.granted(registry, c, "$oauthtoken", APITokens.generate(), []) == nil)

            // Expired tokens no longer work anywhere.
            let record = try #require(try await accounts.oauthApplication(organizationID: acme.id, clientID: clientID))
            let expired = APITokens.generate()
            _ = try await accounts.createOAuthToken(applicationID: record.id, userID: orgAdmin.id, tokenHash: APITokens.hash(expired),
                                                 scopes: ["repo:read"], description: "old", expiresAt: 1)
            #expect(try await c.send(.get, "/api/v1/user/", token: expired).status == .unauthorized)
            #expect(try await Self.granted(registry, c, "$oauthtoken", expired, []) == nil)

            // Revoking one token, then deleting the application, kills the tokens at once.
            #expect(try await c.send(.delete, "\(tokens)/\(tokenUUID)", token: admin).status == .noContent)
            #expect(try await c.send(.delete, "\(tokens)/\(tokenUUID)", token: admin).status == .notFound)
            #expect(try await c.send(.get, "/api/v1/user/", token: access).status == .unauthorized)
            #expect(try await Self.granted(registry, c, "$oauthtoken", access, []) == nil)
            #expect(try await c.send(.delete, "\(apps)/\(clientID)", token: admin).status == .noContent)
            #expect(try await c.send(.get, "/api/v1/user/", token: write).status == .unauthorized)
            #expect(try await c.send(.get, "\(apps)/\(clientID)", token: admin).status == .notFound)
        }
    }

    @Test(arguments: TestBackend.available)
    func delegateTokens(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let accounts = registry.services.accounts
            let orgAdmin = try await registry.createUser("orgadmin")
            _ = try await accounts.createOrganization(name: "acme", email: nil, creatorID: orgAdmin.id)
            let admin = try await AccountAPITests.apiToken(registry, user: "orgadmin")
            let push = try #require(try await c.token(.init("orgadmin"), scopes: ["repository:acme/app:pull,push", "repository:acme/other:pull,push",
                                                                                   "repository:acme/pub:pull,push"]))
            try await c.pushImage("acme/app", tag: "v1", token: push)
            try await c.pushImage("acme/other", tag: "v1", token: push)
            try await c.pushImage("acme/pub", tag: "v1", token: push)
            let pub = try #require(try await accounts.repository(RepositoryPath(namespace: "acme", name: "pub")))
            try await accounts.setVisibility(repositoryID: pub.id, .public)
            let tokens = "/api/v1/repository/acme/app/tokens/"

            let created = try await Self.post(c, tokens, token: admin, #"{"friendlyName":"deployer"}"#)
            #expect(created.status == .created)
            let reader = try Self.object(created)
            let readCode = try #require(reader["code"] as? String)
            let readUUID = try #require(reader["uuid"] as? String)
            #expect(readCode.count == 64 && reader["role"] as? String == "read" && reader["friendlyName"] as? String == "deployer")
            let writer = try Self.object(try await Self.post(c, tokens, token: admin, #"{"friendlyName":"builder","role":"write"}"#))
            let writeCode = try #require(writer["code"] as? String)
            #expect(writer["role"] as? String == "write")
            for body in [#"{"friendlyName":"x","role":"admin"}"#, #"{"friendlyName":"x","role":"owner"}"#, "{}", #"{"friendlyName":" "}"#] {
                #expect(try await Self.post(c, tokens, token: admin, body).status == .badRequest, "\(body)")
            }

            // Listed by uuid, never with a code.
            let list = try await c.send(.get, tokens, token: admin)
            let byUUID = try #require(try Self.object(list)["tokens"] as? [String: [String: Any]])
            #expect(byUUID.count == 2 && byUUID[readUUID]?["friendlyName"] as? String == "deployer")
            #expect(!String(buffer: list.body).contains(readCode) && !String(buffer: list.body).contains(writeCode))
            #expect(!String(buffer: list.body).contains("\"code\""))
            let one = try await c.send(.get, "\(tokens)\(readUUID)", token: admin)
            #expect(try Self.object(one)["role"] as? String == "read")
            #expect(!String(buffer: one.body).contains(readCode))
            #expect(try await c.send(.get, "\(tokens)nope", token: admin).status == .notFound)
            #expect(try await c.send(.get, "/api/v1/repository/acme/other/tokens/\(readUUID)", token: admin).status == .notFound)

            // `$token` + read code: pull on acme/app only; nothing elsewhere, not even public repos or new ones.
            let asked = ["repository:acme/app:pull,push,*", "repository:acme/other:pull", "repository:acme/pub:pull", "repository:acme/new:pull,push"]
            let read = try #require(try await Self.granted(registry, c, "$token", readCode, asked))
            #expect(read["acme/app"] == ["pull"])
            #expect(read["acme/other"] == [] && read["acme/pub"] == [] && read["acme/new"] == [])
            let readJWT = try #require(try await c.token(.init("$token", readCode), scopes: ["repository:acme/app:pull,push"]))
            let claims = try await registry.services.tokens.verify(readJWT, audience: "localhost")
            #expect(claims.sub.value == "$token:\(readUUID)")
            #expect(claims.context.entity_kind == "token" && claims.context.entity_reference == nil, "the JWT must not carry a user or the code")
            // Signed in for real clients (`podman login` checks GET /v2/), reads, cannot write.
            #expect(try await c.send(.get, "/v2/", token: readJWT).status == .ok)
            #expect(try await c.send(.get, "/v2/acme/app/manifests/v1", token: readJWT, headers: [.accept: MediaTypes.ociManifest]).status == .ok)
            #expect(try await c.send(.post, "/v2/acme/app/blobs/uploads/", token: readJWT).status == .unauthorized)
            #expect(try await c.send(.get, "/v2/acme/other/manifests/v1", token: readJWT, headers: [.accept: MediaTypes.ociManifest]).status == .unauthorized)

            // Write code: pull and push, never `*`.
            let write = try #require(try await Self.granted(registry, c, "$token", writeCode, asked))
            #expect(write["acme/app"] == ["pull", "push"])
            #expect(write["acme/other"] == [])
            let writeJWT = try #require(try await c.token(.init("$token", writeCode), scopes: ["repository:acme/app:pull,push,*"]))
            try await c.pushImage("acme/app", tag: "v2", token: writeJWT)
            #expect(try await c.send(.delete, "/v2/acme/app/manifests/v2", token: writeJWT).status == .unauthorized)

            // Wrong codes and other users' passwords are refused.
            #expect(try await Self.granted(registry, c, "$token", readCode.lowercased() + "x", []) == nil)
            #expect(try await Self.granted(registry, c, "$token", TestRegistry.password, []) == nil)
            #expect(try await Self.granted(registry, c, "$nobody", readCode, []) == nil)

            // Role changes apply to the next sign-in; admin is refused.
            let promoted = try await c.send(.put, "\(tokens)\(readUUID)", token: admin, headers: Self.json, body: ByteBuffer(string: #"{"role":"write"}"#))
            #expect(promoted.status == .ok)
            #expect(try Self.object(promoted)["role"] as? String == "write")
            #expect(try await Self.granted(registry, c, "$token", readCode, ["repository:acme/app:pull,push"])?["acme/app"] == ["pull", "push"])
            for body in [#"{"role":"admin"}"#, #"{"role":"x"}"#, "{}"] {
                #expect(try await c.send(.put, "\(tokens)\(readUUID)", token: admin, headers: Self.json, body: ByteBuffer(string: body)).status == .badRequest)
            }

            // Deletion revokes at once.
            #expect(try await c.send(.delete, "\(tokens)\(readUUID)", token: admin).status == .noContent)
            #expect(try await c.send(.delete, "\(tokens)\(readUUID)", token: admin).status == .notFound)
            #expect(try await Self.granted(registry, c, "$token", readCode, []) == nil)
            #expect(try await Self.granted(registry, c, "$token", writeCode, []) != nil)
        }
    }
}
