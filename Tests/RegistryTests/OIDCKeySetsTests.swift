import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import JWTKit
import Logging
import OutboundHTTP
@testable import Registry
import SlipwayTestSupport
import Synchronization
import Testing

/// A real OpenID Connect issuer on 127.0.0.1 (ephemeral port): discovery and a JWKS whose keys
/// the test rotates, counting how often the JWKS is fetched.
final class TestIssuer: Sendable {
    struct Key: Sendable {
        let kid: String
        let key: ES256PrivateKey
    }

    let published = Mutex<[Key]>([])
    let jwksFetches = Mutex(0)
    /// What the token endpoint answers next (web sign-in tests), and the forms it was sent.
    let nextIDToken = Mutex<String?>(nil)
    let tokenRequests = Mutex<[[String: String]]>([])
    /// What the userinfo endpoint answers to the bearer `at` (nil: 401), and how often it was asked.
    let userinfo = Mutex<String?>(nil)
    let userinfoRequests = Mutex(0)

    static func key(_ kid: String) -> Key { Key(kid: kid, key: ES256PrivateKey()) }

    func publish(_ keys: [Key]) { published.withLock { $0 = keys } }

    var jwks: String {
        let keys = published.withLock { $0 }.map { k -> String in
            let (x, y) = k.key.publicKey.parameters!
            return #"{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":"\#(k.kid)","x":"\#(x)","y":"\#(y)"}"#
        }
        return #"{"keys":[\#(keys.joined(separator: ","))]}"#
    }

    struct Claims: JWTPayload {
        var iss: IssuerClaim
        var sub: SubjectClaim
        var aud: AudienceClaim
        var exp: ExpirationClaim
        var repository: String?
        var nonce: String?
        var preferred_username: String?
        var email: String?
        var groups: [String]?
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// A token for `subject`, signed with `key` under its kid.
    static func token(issuer: String, subject: String, key: Key, audience: String = "slipway", repository: String? = nil,
                      nonce: String? = nil, username: String? = nil, email: String? = nil, groups: [String]? = nil,
                      lifetime: TimeInterval = 300) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: key.key, kid: JWKIdentifier(string: key.kid))
        let claims = Claims(iss: .init(value: issuer), sub: .init(value: subject), aud: .init(value: [audience]),
                            exp: .init(value: Date().addingTimeInterval(lifetime)), repository: repository, nonce: nonce,
                            preferred_username: username, email: email, groups: groups)
        return try await keys.sign(claims, kid: JWKIdentifier(string: key.kid))
    }

    /// Runs `body` with the issuer listening; its URL is `http://127.0.0.1:<port>`.
    static func with<T: Sendable>(_ body: @Sendable @escaping (TestIssuer, String) async throws -> T) async throws -> T {
        let issuer = TestIssuer()
        let base = Mutex("")
        let router = Router()
        router.get("/.well-known/openid-configuration") { _, _ in
            let url = base.withLock { $0 }
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: .init(string: #"{"issuer":"\#(url)","jwks_uri":"\#(url)/jwks","authorization_endpoint":"\#(url)/authorize","token_endpoint":"\#(url)/token","userinfo_endpoint":"\#(url)/userinfo"}"#)))
        }
        router.post("/token") { request, _ in
            var body = try await request.body.collect(upTo: 64 * 1024)
            var form: [String: String] = [:]
            for pair in (body.readString(length: body.readableBytes) ?? "").split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1).map { $0.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
                form[kv[0]] = kv.count > 1 ? kv[1] : ""
            }
            issuer.tokenRequests.withLock { $0.append(form) }
            guard let token = issuer.nextIDToken.withLock({ $0 }) else {
                return Response(status: .badRequest, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(string: #"{"error":"invalid_grant"}"#)))
            }
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: .init(string: #"{"access_token":"at","token_type":"Bearer","id_token":"\#(token)"}"#)))
        }
        router.get("/userinfo") { request, _ in
            issuer.userinfoRequests.withLock { $0 += 1 }
            guard request.headers[.authorization] == "Bearer at", let body = issuer.userinfo.withLock({ $0 }) else {
                return Response(status: .unauthorized)
            }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(string: body)))
        }
        router.get("/jwks") { _, _ in
            issuer.jwksFetches.withLock { $0 += 1 }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(string: issuer.jwks)))
        }
        return try await LoopbackApp.with(router, label: "test-issuer") { port in
            let url = "http://127.0.0.1:\(port)"
            base.withLock { $0 = url }
            return try await body(issuer, url)
        }
    }
}

@Suite("OIDC key sets and robot federation rules")
struct OIDCKeySetsTests {
    static let logger = Logger(label: "oidc-test")

    /// A clock the test moves.
    final class TestNow: Sendable {
        let value = Mutex(Date())
        func advance(_ seconds: TimeInterval) { value.withLock { $0 = $0.addingTimeInterval(seconds) } }
        var now: Date { value.withLock { $0 } }
    }

    static func keySets(allowPrivate: Bool = true, now: TestNow) -> OIDCKeySets {
        OIDCKeySets(http: OutboundHTTPClient(.init(allowPrivateTargets: allowPrivate)), refetchInterval: 30, maxAge: 3600,
                    now: { now.now }, logger: logger)
    }

    @Test func rotatedKeysAreFetchedOnceAndUnknownKeysAreRateLimited() async throws {
        try await TestIssuer.with { issuer, url in
            let now = TestNow()
            let sets = Self.keySets(now: now)
            let first = TestIssuer.key("k1")
            issuer.publish([first])
            let claims = try await sets.verifySignature(try await TestIssuer.token(issuer: url, subject: "ci", key: first), issuer: url)
            #expect(claims.issuer == url && claims.subject == "ci" && claims.audiences == ["slipway"])
            // Cached: a second token costs no fetch.
            _ = try await sets.verifySignature(try await TestIssuer.token(issuer: url, subject: "ci", key: first), issuer: url)
            #expect(issuer.jwksFetches.withLock { $0 } == 1)

            // The issuer rotates; a token with the new kid triggers one refetch.
            let second = TestIssuer.key("k2")
            issuer.publish([first, second])
            now.advance(31)
            _ = try await sets.verifySignature(try await TestIssuer.token(issuer: url, subject: "ci", key: second), issuer: url)
            #expect(issuer.jwksFetches.withLock { $0 } == 2)

            // Made-up kids right after: refused without another fetch.
            for n in 0..<5 {
                let stranger = TestIssuer.key("unknown-\(n)")
                await #expect(throws: OIDCFailure.self) {
                    _ = try await sets.verifySignature(try await TestIssuer.token(issuer: url, subject: "ci", key: stranger), issuer: url)
                }
            }
            #expect(issuer.jwksFetches.withLock { $0 } == 2)

            // A known kid with another key's signature is a forgery.
            let forger = TestIssuer.Key(kid: "k2", key: ES256PrivateKey())
            do {
                _ = try await sets.verifySignature(try await TestIssuer.token(issuer: url, subject: "ci", key: forger), issuer: url)
                Issue.record("a forged signature verified")
            } catch let failure as OIDCFailure {
                #expect(failure.reason == .badSignature)
            }
        }
    }

    @Test func loopbackIssuersNeedPrivateTargetsAllowed() async throws {
        try await TestIssuer.with { issuer, url in
            let key = TestIssuer.key("k1")
            issuer.publish([key])
            let sets = Self.keySets(allowPrivate: false, now: TestNow())
            do {
                _ = try await sets.verifySignature(try await TestIssuer.token(issuer: url, subject: "ci", key: key), issuer: url)
                Issue.record("a loopback issuer was fetched without security.allowPrivateTargets")
            } catch let failure as OIDCFailure {
                #expect(failure.reason == .keysUnavailable)
            }
            #expect(issuer.jwksFetches.withLock { $0 } == 0)
        }
    }

    @Test func audienceAndClaimConditionsMustAllMatch() async throws {
        try await TestIssuer.with { issuer, url in
            let key = TestIssuer.key("k1")
            issuer.publish([key])
            let sets = Self.keySets(now: TestNow())
            let main = try await sets.verifySignature(
                try await TestIssuer.token(issuer: url, subject: "repo:acme/app", key: key, audience: "gha", repository: "acme/app"), issuer: url)
            let entry = RobotFederationEntry(issuer: url, subject: "repo:acme/app", audience: "gha", conditions: ["repository": "acme/app"])
            #expect(RobotFederationExchange.admits(entry, main))
            #expect(!RobotFederationExchange.admits(RobotFederationEntry(issuer: url, subject: "repo:acme/app", audience: "other"), main))
            #expect(!RobotFederationExchange.admits(
                RobotFederationEntry(issuer: url, subject: "repo:acme/app", conditions: ["repository": "acme/other"]), main))
            #expect(!RobotFederationExchange.admits(
                RobotFederationEntry(issuer: url, subject: "repo:acme/app", conditions: ["ref": "refs/heads/main"]), main))
        }
    }
}

@Suite("Robot federation exchange")
struct RobotFederationExchangeTests {
    static func basic(_ user: String, _ secret: String) -> HTTPFields {
        [.authorization: "Basic " + Data("\(user):\(secret)".utf8).base64EncodedString()]
    }

    /// Set a federation through the API, exchange a real issuer's token, log in to the registry
    /// with the result; refusals are Quay error bodies and change nothing; a changed federation
    /// revokes what was exchanged under the old one. On both metadata backends (the migration).
    @Test(arguments: TestBackend.available)
    func exchangeLogInAndRevoke(backend: TestBackend) async throws {
        try await TestIssuer.with { issuer, url in
            let key = TestIssuer.key("k1")
            issuer.publish([key])
            try await TestRegistry.with(backend, configure: { $0.security.allowPrivateTargets = true }) { registry, c in
                let admin = try #require(try await registry.services.accounts.namespace(named: TestRegistry.adminName))
                let token = APITokens.generate()
                try await registry.services.accounts.createAPIToken(userID: admin.id, tokenHash: APITokens.hash(token),
                                                                    scopes: Array(APICaller.allScopes), description: "t")
                let (robot, _) = try await registry.services.createRobot(owner: admin, shortName: "ci")
                let json: HTTPFields = [.contentType: "application/json"]
                let body = #"[{"issuer":"\#(url)","subject":"ci"}]"#
                let set = try await c.send(.post, "/api/v1/user/robots/ci/federation", token: token, headers: json, body: .init(string: body))
                #expect(set.status == .ok, "\(String(buffer: set.body))")

                let oidc = try await TestIssuer.token(issuer: url, subject: "ci", key: key)
                let exchanged = try await c.send(.get, RobotFederationExchange.path, headers: Self.basic(robot.name, oidc))
                #expect(exchanged.status == .ok, "\(String(buffer: exchanged.body))")
                let robotToken = try #require((exchanged.json as? [String: Any])?["token"] as? String)
                #expect(try await c.token(.init(robot.name, robotToken), scopes: []) != nil)

                // Wrong subject: 401 in Quay's shape, no token.
                let stranger = try await TestIssuer.token(issuer: url, subject: "someone", key: key)
                let refused = try await c.send(.get, RobotFederationExchange.path, headers: Self.basic(robot.name, stranger))
                #expect(refused.status == .unauthorized)
                let error = try #require(refused.json as? [String: Any])
                #expect(error["error_type"] as? String == "invalid_token" && error["token"] == nil)
                // Not Basic at all.
                #expect(try await c.send(.get, RobotFederationExchange.path).status == .unauthorized)

                // Deleting the federation revokes the exchanged token.
                #expect(try await c.send(.delete, "/api/v1/user/robots/ci/federation", token: token).status == .noContent)
                #expect(try await c.token(.init(robot.name, robotToken), scopes: []) == nil)
                let again = try await c.send(.get, RobotFederationExchange.path, headers: Self.basic(robot.name, oidc))
                #expect(again.status == .unauthorized)
            }
        }
    }
}
