import Accounts
import Foundation
import HTTPTypes
import NIOCore
import Registry
import SlipwayTestSupport
import Testing

/// The `/api/v1` security matrix, in the style of Quay's `test_security.py`: every registered
/// route × identity → expected status. Rows live in `Rows+<Resource>.swift`, one file per API
/// resource; `everyRegisteredRouteHasARow` fails when a route is added without rows.
enum MatrixIdentity: String, CaseIterable, Sendable {
    /// No credentials.
    case anonymous
    /// `admin`: superuser, owner of the `admin` namespace and of the `library` org; not in `acme`.
    case owner
    /// `orgadmin`: created `acme`, in its `owners` (admin) team.
    case orgAdmin
    /// `creator`: in acme's `creators` team (role creator).
    case creator
    /// `member`: in acme's `readers` team (role member), which has read on `acme/app`.
    case member
    /// `outsider`: a user with no relation to anything above.
    case outsider
    /// `admin` again, through a token that only has `user:read`.
    case narrowToken
}

struct MatrixRow: Sendable {
    let method: HTTPRequest.Method
    /// The route template exactly as registered (`/api/v1/repository/{repository}/tag/{tag}`).
    let route: String
    /// Builds the concrete request for one identity; may create state the request consumes
    /// (a fresh robot to delete, ...). Returns the path and an optional JSON body.
    let request: @Sendable (MatrixFixture, MatrixIdentity) async throws -> (String, String?)
    let expect: [MatrixIdentity: Int]

    init(_ method: HTTPRequest.Method, _ route: String, path: String? = nil, body: String? = nil, _ expect: [MatrixIdentity: Int]) {
        self.method = method
        self.route = route
        let fixed = path ?? route
        self.request = { _, _ in (fixed, body) }
        self.expect = expect
    }

    init(_ method: HTTPRequest.Method, _ route: String, _ expect: [MatrixIdentity: Int],
         request: @escaping @Sendable (MatrixFixture, MatrixIdentity) async throws -> (String, String?)) {
        self.method = method
        self.route = route
        self.request = request
        self.expect = expect
    }
}

/// `expect(200, anonymous: 401, ...)`: one status for everyone with per-identity exceptions.
func expect(_ status: Int, _ except: [MatrixIdentity: Int] = [:]) -> [MatrixIdentity: Int] {
    var out: [MatrixIdentity: Int] = [:]
    for who in MatrixIdentity.allCases { out[who] = except[who] ?? status }
    return out
}

/// The world every row runs in.
struct MatrixFixture: Sendable {
    let registry: TestRegistry
    let client: RegistryClient
    let tokens: [MatrixIdentity: String]
    let users: [MatrixIdentity: Namespace]
    let acme: Namespace

    static func make(_ registry: TestRegistry, _ client: RegistryClient) async throws -> MatrixFixture {
        let accounts = registry.services.accounts
        var users: [MatrixIdentity: Namespace] = [:]
        users[.owner] = try #require(try await accounts.namespace(named: TestRegistry.adminName))
        users[.narrowToken] = users[.owner]
        for (who, name) in [(MatrixIdentity.orgAdmin, "orgadmin"), (.creator, "creator"), (.member, "member"), (.outsider, "outsider")] {
            users[who] = try await registry.createUser(name)
        }
        let acme = try await accounts.createOrganization(name: "acme", email: "ops@acme.test", creatorID: users[.orgAdmin]!.id)
        let creators = try await accounts.upsertTeam(organizationID: acme.id, name: "creators", role: .creator)
        try await accounts.addTeamMember(teamID: creators, userID: users[.creator]!.id)
        let readers = try await accounts.upsertTeam(organizationID: acme.id, name: "readers", role: .member)
        try await accounts.addTeamMember(teamID: readers, userID: users[.member]!.id)

        var tokens: [MatrixIdentity: String] = [:]
        for who in MatrixIdentity.allCases where who != .anonymous {
            let scopes = who == .narrowToken ? ["user:read"] : Array(APICaller.allScopes)
            let token = APITokens.generate()
            try await accounts.createAPIToken(userID: users[who]!.id, tokenHash: APITokens.hash(token), scopes: scopes, description: "matrix")
            tokens[who] = token
        }
        // acme/app (private, readers team has read) and admin/mine (private).
        let orgPush = try #require(try await client.token(.init("orgadmin"), scopes: ["repository:acme/app:pull,push"]))
        try await client.pushImage("acme/app", tag: "v1", token: orgPush)
        let app = try #require(try await accounts.repository(RepositoryPath(namespace: "acme", name: "app")))
        try await accounts.setTeamPermission(repositoryID: app.id, teamID: readers, role: .read)
        let ownerPush = try #require(try await client.token(.init(TestRegistry.adminName), scopes: ["repository:admin/mine:pull,push"]))
        try await client.pushImage("admin/mine", tag: "v1", token: ownerPush)
        return MatrixFixture(registry: registry, client: client, tokens: tokens, users: users, acme: acme)
    }
}

@Suite("API security matrix")
struct SecurityMatrixTests {
    static var allRows: [MatrixRow] {
        MatrixRows.user + MatrixRows.logExports + MatrixRows.organizations + MatrixRows.tokens + MatrixRows.robots + MatrixRows.permissions + MatrixRows.repositories + MatrixRows.builds
            + MatrixRows.triggers + MatrixRows.notifications
            // Quay drop-in, part A (branch quay-admin): superuser API, messages, lookups.
            + MatrixRows.quayAdmin
            + MatrixRows.discovery
            // The scanner's security endpoint (ScanService).
            + MatrixRows.security
    }

    @Test(arguments: TestBackend.available)
    func everyRouteAndIdentity(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let fixture = try await MatrixFixture.make(registry, c)
            for row in Self.allRows {
                for who in MatrixIdentity.allCases {
                    guard let expected = row.expect[who] else {
                        Issue.record("\(row.method) \(row.route) has no expectation for \(who)")
                        continue
                    }
                    let (path, body) = try await row.request(fixture, who)
                    var headers: HTTPFields = [:]
                    if body != nil { headers[.contentType] = "application/json" }
                    let response = try await c.send(row.method, path, token: fixture.tokens[who], headers: headers,
                                                    body: body.map { ByteBuffer(string: $0) })
                    #expect(Int(response.status.code) == expected,
                            "\(row.method) \(path) as \(who): got \(response.status.code), expected \(expected): \(String(buffer: response.body).prefix(300))")
                    if response.status.code >= 400 {
                        let json = response.json as? [String: Any]
                        #expect(json?["error_type"] != nil || json?["errors"] != nil, "\(row.method) \(path) as \(who): error without a Quay body")
                    }
                }
            }
        }
    }

    /// The robot identity: a robot's token is a registry credential. It pulls what the robot
    /// was granted, and on every `/api/v1` route, as a Bearer token or as Basic credentials, it
    /// is a 401 with Quay's error body (never a silent anonymous, never the robot's owner).
    @Test(arguments: TestBackend.available)
    func robotCredentialsAreRefusedOnEveryRoute(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let fixture = try await MatrixFixture.make(registry, c)
            let orgAdmin = fixture.tokens[.orgAdmin]
            let created = try await c.send(.put, "/api/v1/organization/acme/robots/bot", token: orgAdmin, headers: [.contentType: "application/json"],
                                           body: ByteBuffer(string: #"{"description":"matrix"}"#))
            #expect(created.status == .created)
            let robotToken = try #require((created.json as? [String: Any])?["token"] as? String)
            let grant = try await c.send(.put, "/api/v1/repository/acme/app/permissions/user/acme+bot", token: orgAdmin,
                                         headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"role":"read"}"#))
            #expect(grant.status == .ok)
            // The credential is valid where it belongs: the registry grants the robot its pull.
            let registryToken = try #require(try await c.token(.init("acme+bot", robotToken), scopes: ["repository:acme/app:pull"]))
            let claims = try await registry.services.tokens.verify(registryToken, audience: "localhost")
            #expect(claims.actions(for: "acme/app") == [.pull])

            let basic = "Basic " + Data("acme+bot:\(robotToken)".utf8).base64EncodedString()
            for row in Self.allRows {
                let (path, body) = try await row.request(fixture, .outsider)
                for authorization in ["Bearer \(robotToken)", basic] {
                    var headers: HTTPFields = [.authorization: authorization]
                    if body != nil { headers[.contentType] = "application/json" }
                    let response = try await c.send(row.method, path, headers: headers, body: body.map { ByteBuffer(string: $0) })
                    #expect(response.status == .unauthorized,
                            "\(row.method) \(path) as robot (\(authorization.prefix(6))): got \(response.status.code): \(String(buffer: response.body).prefix(200))")
                    #expect((response.json as? [String: Any])?["error_type"] != nil, "\(row.method) \(path) as robot: error without a Quay body")
                }
            }
        }
    }

    @Test func everyRegisteredRouteHasARow() async throws {
        let registry = try await TestRegistry.start(.sqlite)
        let registered = Set(SlipwayApplication.apiRoutes(services: registry.services, modules: registry.modules).registered.map { "\($0.method.rawValue) \($0.path)" })
        await registry.stop()
        let covered = Set(Self.allRows.map { "\($0.method.rawValue) \($0.route)" })
        let missing = registered.subtracting(covered).sorted()
        let stale = covered.subtracting(registered).sorted()
        #expect(missing.isEmpty, "routes without matrix rows: \(missing)")
        #expect(stale.isEmpty, "matrix rows for routes that are not registered: \(stale)")
    }
}
