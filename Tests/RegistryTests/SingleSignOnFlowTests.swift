import Accounts
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
@testable import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Web sign-in through an OpenID Connect provider, end to end in-process against `TestIssuer`
/// (a real HTTP issuer on loopback whose token endpoint answers the ID token the test mints):
/// first sign-in with the username confirmation, later sign-ins straight in, linking from the
/// account settings, and every refusal (state mismatch, replay, wrong nonce, audience, expiry,
/// an identity linked to someone else). On both metadata backends (migration 7).
@Suite("Single sign-on (OIDC web sign-in)")
struct SingleSignOnFlowTests {
    static let client = "slipway"

    static func configure(_ url: String) -> (inout SlipwayConfig) -> Void {
        { config in
            config.security.allowPrivateTargets = true
            var provider = OIDCProviderConfig(name: "idp", issuer: url, clientID: client, clientSecret: "s3cret")
            provider.usernameClaim = "preferred_username"
            config.auth.oidc = [provider]
        }
    }

    /// The cookies a response sets, by name (`name=value`, attributes dropped).
    static func cookies(_ response: TestResponse) -> [String: String] {
        var out: [String: String] = [:]
        for field in response.headers where field.name == .setCookie {
            guard let pair = field.value.split(separator: ";").first, let eq = pair.firstIndex(of: "=") else { continue }
            out[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
        }
        return out
    }

    static func query(_ location: String) -> [String: String] {
        var out: [String: String] = [:]
        for item in URLComponents(string: location)?.queryItems ?? [] { out[item.name] = item.value }
        return out
    }

    struct Started {
        let state: String
        let nonce: String
        let challenge: String
        let redirectURI: String
        let cookie: String
    }

    /// `GET /signin/oidc/idp` (or the link variant): the 303 to the provider and the state cookie.
    static func start(_ c: RegistryClient, path: String = "/signin/oidc/idp", session: String? = nil, issuer: String) async throws -> Started {
        var headers = HTTPFields()
        if let session { headers[.cookie] = session }
        let response = try await c.send(.get, path, headers: headers)
        #expect(response.status == .seeOther, "\(String(buffer: response.body).prefix(300))")
        let location = try #require(response.headers[.location])
        #expect(location.hasPrefix(issuer + "/authorize?"))
        let q = query(location)
        #expect(q["response_type"] == "code" && q["client_id"] == client && q["code_challenge_method"] == "S256")
        #expect(q["scope"] == "openid profile email")
        let state = try #require(q["state"])
        #expect(cookies(response)[OIDCSignIn.stateCookie] == state)
        return Started(state: state, nonce: try #require(q["nonce"]), challenge: try #require(q["code_challenge"]),
                       redirectURI: try #require(q["redirect_uri"]), cookie: "\(OIDCSignIn.stateCookie)=\(state)")
    }

    static func callback(_ c: RegistryClient, state: String, cookie: String?, extraCookie: String? = nil) async throws -> TestResponse {
        var headers = HTTPFields()
        let all = [cookie, extraCookie].compactMap { $0 }
        if !all.isEmpty { headers[.cookie] = all.joined(separator: "; ") }
        return try await c.send(.get, "/oauth2/idp/callback?code=the-code&state=\(state)", headers: headers)
    }

    @Test(arguments: TestBackend.available)
    func firstSignInConfirmsUsernameThenLaterSignInsGoStraightIn(backend: TestBackend) async throws {
        try await TestIssuer.with { issuer, url in
            let key = TestIssuer.key("k1")
            issuer.publish([key])
            try await TestRegistry.with(backend, configure: Self.configure(url)) { registry, c in
                let signin = try await c.send(.get, "/signin")
                #expect(String(buffer: signin.body).contains("Sign in with idp"))

                // First sign-in: the provider vouches for a person Slipway does not know.
                let first = try await Self.start(c, issuer: url)
                issuer.nextIDToken.withLock { $0 = nil }
                let token = try await TestIssuer.token(issuer: url, subject: "alice-sub", key: key, audience: Self.client,
                                                       nonce: first.nonce, username: "Alice.Smith", email: "alice@example.com")
                issuer.nextIDToken.withLock { $0 = token }
                let landed = try await Self.callback(c, state: first.state, cookie: first.cookie)
                #expect(landed.status == .seeOther, "\(String(buffer: landed.body).prefix(400))")
                #expect(landed.headers[.location] == "/signin/confirm-username")
                let signupCookie = try #require(Self.cookies(landed)["slipway_oidc_signup"])
                #expect(Self.cookies(landed)[WebSession.cookieName] == nil)
                // The code was redeemed with the PKCE verifier of this sign-in and the client's secret.
                let form = try #require(issuer.tokenRequests.withLock { $0.last })
                #expect(form["code"] == "the-code" && form["client_secret"] == "s3cret" && form["redirect_uri"] == first.redirectURI)
                #expect(PKCE.challenge(for: form["code_verifier"] ?? "") == first.challenge)

                // Replaying the callback: the state was spent.
                let replay = try await Self.callback(c, state: first.state, cookie: first.cookie)
                #expect(replay.status == .badRequest)
                #expect(String(buffer: replay.body).contains("already used"))

                let pending: HTTPFields = [.cookie: "slipway_oidc_signup=\(signupCookie)"]
                let confirmPage = try await c.send(.get, "/signin/confirm-username", headers: pending)
                #expect(confirmPage.status == .ok)
                #expect(String(buffer: confirmPage.body).contains(#"value="alice.smith""#))
                var formHeaders = pending
                formHeaders[.contentType] = "application/x-www-form-urlencoded"
                let taken = try await c.send(.post, "/signin/confirm-username", headers: formHeaders, body: ByteBuffer(string: "username=\(TestRegistry.adminName)"))
                #expect(taken.status == .badRequest)
                #expect(String(buffer: taken.body).contains("is taken"))
                let invalid = try await c.send(.post, "/signin/confirm-username", headers: formHeaders, body: ByteBuffer(string: "username=Not+Valid"))
                #expect(invalid.status == .badRequest)
                let confirmed = try await c.send(.post, "/signin/confirm-username", headers: formHeaders, body: ByteBuffer(string: "username=alice"))
                #expect(confirmed.status == .seeOther, "\(String(buffer: confirmed.body).prefix(400))")
                #expect(confirmed.headers[.location] == "/repository/?welcome=sso")
                let session = try #require(Self.cookies(confirmed)[WebSession.cookieName])
                let alice = try #require(try await registry.services.accounts.userAccount(named: "alice"))
                #expect(alice.email == "alice@example.com")
                #expect(try await registry.services.accounts.passwordHash(user: "alice") == nil)
                let welcome = try await c.send(.get, "/repository/?welcome=sso", headers: [.cookie: "\(WebSession.cookieName)=\(session)"])
                #expect(String(buffer: welcome.body).contains(#"id="sso-welcome""#))
                #expect(String(buffer: welcome.body).contains("/user/alice?tab=tokens"))
                let me = try await c.send(.get, "/api/v1/user/", headers: [.cookie: "\(WebSession.cookieName)=\(session)"])
                let logins = try #require((me.json as? [String: Any])?["logins"] as? [[String: Any]])
                #expect(logins.first?["service"] as? String == "idp" && logins.first?["service_identifier"] as? String == "alice-sub")
                // The pending sign-up is gone: the confirmation cannot be posted twice.
                let again = try await c.send(.post, "/signin/confirm-username", headers: formHeaders, body: ByteBuffer(string: "username=alice2"))
                #expect(again.status == .badRequest)
                #expect(try await registry.services.accounts.userAccount(named: "alice2") == nil)

                // Later sign-ins go straight to where they were going.
                let second = try await Self.start(c, path: "/signin/oidc/idp?redirect=/organization/", issuer: url)
                issuer.nextIDToken.withLock { $0 = nil }
                let token2 = try await TestIssuer.token(issuer: url, subject: "alice-sub", key: key, audience: Self.client, nonce: second.nonce,
                                                        username: "whatever")
                issuer.nextIDToken.withLock { $0 = token2 }
                let straight = try await Self.callback(c, state: second.state, cookie: second.cookie)
                #expect(straight.status == .seeOther)
                #expect(straight.headers[.location] == "/organization/")
                #expect(Self.cookies(straight)[WebSession.cookieName] != nil)
                #expect(try await registry.services.accounts.userAccount(named: "whatever") == nil)
            }
        }
    }

    @Test func refusals() async throws {
        try await TestIssuer.with { issuer, url in
            let key = TestIssuer.key("k1")
            issuer.publish([key])
            try await TestRegistry.with(.sqlite, configure: Self.configure(url)) { registry, c in
                func token(_ s: Started, sub: String = "bob", aud: String = Self.client, nonce: String? = nil, lifetime: TimeInterval = 300,
                           signer: TestIssuer.Key? = nil) async throws -> String {
                    try await TestIssuer.token(issuer: url, subject: sub, key: signer ?? key, audience: aud, nonce: nonce ?? s.nonce, lifetime: lifetime)
                }
                func signIn(_ mint: (Started) async throws -> String?, state: ((Started) -> String)? = nil, cookie: ((Started) -> String?)? = nil)
                    async throws -> TestResponse {
                    let started = try await Self.start(c, issuer: url)
                    let token = try await mint(started)
                    issuer.nextIDToken.withLock { $0 = token }
                    let browserCookie: String? = if let cookie { cookie(started) } else { started.cookie }
                    return try await Self.callback(c, state: state?(started) ?? started.state, cookie: browserCookie)
                }
                // State in the query that is not this browser's (login CSRF), or no cookie at all.
                let mismatch = try await signIn({ try await token($0) }, state: { _ in "forged-state" })
                #expect(mismatch.status == .badRequest && String(buffer: mismatch.body).contains("state mismatch"))
                let noCookie = try await signIn({ try await token($0) }, cookie: { _ in nil })
                #expect(noCookie.status == .badRequest)
                // A token minted for another sign-in (nonce), another client, expired, or forged.
                let nonce = try await signIn({ try await token($0, nonce: "someone-elses-nonce") })
                #expect(nonce.status == .forbidden && String(buffer: nonce.body).contains("nonce"))
                let audience = try await signIn({ try await token($0, aud: "another-client") })
                #expect(audience.status == .forbidden)
                let expired = try await signIn({ try await token($0, lifetime: -300) })
                #expect(expired.status == .forbidden && String(buffer: expired.body).contains("expired"))
                let forged = try await signIn({ try await token($0, signer: TestIssuer.Key(kid: "k1", key: .init())) })
                #expect(forged.status == .forbidden)
                // The provider refuses the code.
                let noToken = try await signIn({ _ in nil })
                #expect(noToken.status == .forbidden)
                // An unknown provider.
                #expect(try await c.send(.get, "/signin/oidc/nope").status == .notFound)
                #expect(try await c.send(.get, "/oauth2/nope/callback?code=x&state=y").status == .badRequest)
                // None of it created a user or a link.
                #expect(try await registry.services.accounts.user(linkedTo: url, subject: "bob") == nil)
                #expect(try await registry.services.accounts.userAccount(named: "bob") == nil)
            }
        }
    }

    /// An existing user links a provider from the account settings; an identity linked to
    /// another user is refused; the link needs the session's CSRF token.
    @Test(arguments: TestBackend.available)
    func linkingFromAccountSettings(backend: TestBackend) async throws {
        try await TestIssuer.with { issuer, url in
            let key = TestIssuer.key("k1")
            issuer.publish([key])
            try await TestRegistry.with(backend, configure: Self.configure(url)) { registry, c in
                let carol = try await registry.createUser("carol")
                try await registry.services.accounts.linkExternalLogin(userID: carol.id, service: "idp", issuer: url, subject: "carol-sub")
                let signedIn = try await c.send(.post, "/api/v1/signin", headers: [.contentType: "application/json"],
                                                body: ByteBuffer(string: #"{"username":"\#(TestRegistry.adminName)","password":"\#(TestRegistry.password)"}"#))
                let session = "\(WebSession.cookieName)=\(try #require(Self.cookies(signedIn)[WebSession.cookieName]))"
                let csrf = try #require((signedIn.json as? [String: Any])?["csrf_token"] as? String)

                let settings = try await c.send(.get, "/user/\(TestRegistry.adminName)?tab=settings", headers: [.cookie: session])
                #expect(String(buffer: settings.body).contains("/signin/oidc/idp/link?csrf_token="))
                // Without the CSRF token, or signed out: no link is started.
                #expect(try await c.send(.get, "/signin/oidc/idp/link", headers: [.cookie: session]).status == .badRequest)
                #expect(try await c.send(.get, "/signin/oidc/idp/link?csrf_token=\(csrf)").status == .seeOther)  // to /signin

                // carol's identity cannot be linked to admin.
                let stolen = try await Self.start(c, path: "/signin/oidc/idp/link?csrf_token=\(csrf)", session: session, issuer: url)
                issuer.nextIDToken.withLock { $0 = nil }
                let carolToken = try await TestIssuer.token(issuer: url, subject: "carol-sub", key: key, audience: Self.client, nonce: stolen.nonce)
                issuer.nextIDToken.withLock { $0 = carolToken }
                let refused = try await Self.callback(c, state: stolen.state, cookie: stolen.cookie, extraCookie: session)
                #expect(refused.status == .forbidden && String(buffer: refused.body).contains("already linked to another user"))

                // A link started by admin and finished in a browser without admin's session is refused.
                let elsewhere = try await Self.start(c, path: "/signin/oidc/idp/link?csrf_token=\(csrf)", session: session, issuer: url)
                issuer.nextIDToken.withLock { $0 = nil }
                let elsewhereToken = try await TestIssuer.token(issuer: url, subject: "admin-sub", key: key, audience: Self.client, nonce: elsewhere.nonce)
                issuer.nextIDToken.withLock { $0 = elsewhereToken }
                #expect(try await Self.callback(c, state: elsewhere.state, cookie: elsewhere.cookie).status == .badRequest)

                let linking = try await Self.start(c, path: "/signin/oidc/idp/link?csrf_token=\(csrf)", session: session, issuer: url)
                issuer.nextIDToken.withLock { $0 = nil }
                let adminToken = try await TestIssuer.token(issuer: url, subject: "admin-sub", key: key, audience: Self.client, nonce: linking.nonce)
                issuer.nextIDToken.withLock { $0 = adminToken }
                let linked = try await Self.callback(c, state: linking.state, cookie: linking.cookie, extraCookie: session)
                #expect(linked.status == .seeOther, "\(String(buffer: linked.body).prefix(300))")
                #expect(linked.headers[.location] == "/user/\(TestRegistry.adminName)?tab=settings")
                let admin = try #require(try await registry.services.accounts.user(linkedTo: url, subject: "admin-sub"))
                #expect(admin.name == TestRegistry.adminName)
                #expect(try await registry.services.accounts.user(linkedTo: url, subject: "carol-sub")?.id == carol.id)
                let after = try await c.send(.get, "/user/\(TestRegistry.adminName)?tab=settings", headers: [.cookie: session])
                #expect(String(buffer: after.body).contains("admin-sub"))
            }
        }
    }

    /// The permission table of the sign-in pages (they are page routes, outside the `/api/v1`
    /// security matrix): each route × anonymous / signed in (without and with the CSRF token).
    @Test func pageRoutePermissions() async throws {
        try await TestIssuer.with { issuer, url in
            issuer.publish([TestIssuer.key("k1")])
            try await TestRegistry.with(.sqlite, configure: Self.configure(url)) { registry, c in
                let signedIn = try await c.send(.post, "/api/v1/signin", headers: [.contentType: "application/json"],
                                                body: ByteBuffer(string: #"{"username":"\#(TestRegistry.adminName)","password":"\#(TestRegistry.password)"}"#))
                let session = "\(WebSession.cookieName)=\(try #require(Self.cookies(signedIn)[WebSession.cookieName]))"
                let csrf = try #require((signedIn.json as? [String: Any])?["csrf_token"] as? String)
                let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
                // (method, path, session?, expected status, expected Location prefix)
                let rows: [(HTTPRequest.Method, String, Bool, HTTPResponse.Status, String?)] = [
                    (.get, "/signin/oidc/idp", false, .seeOther, url + "/authorize?"),
                    (.get, "/signin/oidc/idp", true, .seeOther, "/repository/"),          // already signed in
                    (.get, "/signin/oidc/unknown", false, .notFound, nil),
                    (.get, "/signin/oidc/idp/link", false, .seeOther, "/signin?redirect="),
                    (.get, "/signin/oidc/idp/link", true, .badRequest, nil),               // no CSRF token
                    (.get, "/signin/oidc/idp/link?csrf_token=wrong", true, .badRequest, nil),
                    (.get, "/signin/oidc/idp/link?csrf_token=\(csrf)", true, .seeOther, url + "/authorize?"),
                    (.get, "/oauth2/idp/callback?code=c&state=s", false, .badRequest, nil), // no state cookie
                    (.get, "/oauth2/idp/callback?code=c&state=s", true, .badRequest, nil),
                    (.get, "/signin/confirm-username", false, .seeOther, "/signin"),        // no pending sign-up
                    (.post, "/signin/confirm-username", false, .badRequest, nil),
                    (.get, "/signup", false, .notFound, nil),                                // auth.userCreation off
                    (.get, "/confirm?code=unknown", false, .badRequest, nil),
                ]
                for (method, path, withSession, status, location) in rows {
                    var headers = method == .post ? form : HTTPFields()
                    if withSession { headers[.cookie] = session }
                    let response = try await c.send(method, path, headers: headers, body: method == .post ? ByteBuffer(string: "username=x") : nil)
                    #expect(response.status == status, "\(method) \(path) signed in: \(withSession)")
                    if let location { #expect(response.headers[.location]?.hasPrefix(location) == true, "\(method) \(path): \(response.headers[.location] ?? "-")") }
                }
                #expect(try await registry.services.accounts.externalLogins(userID: try #require(try await registry.services.accounts.namespace(named: TestRegistry.adminName)).id).isEmpty)
            }
        }
    }

    /// `auth.internalLogin: false`: the password form is folded away and refused for everyone
    /// but superusers.
    @Test func internalLoginOffLeavesPasswordsToSuperusers() async throws {
        try await TestRegistry.with(.sqlite, configure: { $0.auth.internalLogin = false }) { registry, c in
            try await registry.createUser("dave")
            func signIn(_ user: String) async throws -> TestResponse {
                try await c.send(.post, "/api/v1/signin", headers: [.contentType: "application/json"],
                                 body: ByteBuffer(string: #"{"username":"\#(user)","password":"\#(TestRegistry.password)"}"#))
            }
            let refused = try await signIn("dave")
            #expect(refused.status == .forbidden)
            #expect((refused.json as? [String: Any])?["error_message"] as? String == "Password sign-in is disabled: sign in with your organization's single sign-on")
            #expect(try await signIn(TestRegistry.adminName).status == .ok)
            let page = String(buffer: try await c.send(.get, "/signin").body)
            #expect(page.contains(#"id="superuser-signin""#))
        }
    }
}
