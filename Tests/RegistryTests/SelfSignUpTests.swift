import Accounts
import Foundation
import HTTPTypes
import HummingbirdTesting
import Mail
import NIOCore
@testable import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Self sign-up (`POST /api/v1/user/`, `auth.userCreation`, `auth.mailVerification`): the
/// account is created and signed in, may pull but not push until the mailed link is opened, and
/// every refusal (disabled, bad name, weak password, taken name, rate limit) leaves nothing.
@Suite("Self sign-up")
struct SelfSignUpTests {
    static func signUp(_ c: RegistryClient, _ json: String) async throws -> TestResponse {
        try await c.send(.post, "/api/v1/user/", headers: [.contentType: "application/json"], body: ByteBuffer(string: json))
    }

    @Test(arguments: TestBackend.available)
    func unverifiedAccountsPullButDoNotPushUntilTheLinkIsOpened(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: {
            $0.auth.userCreation = true
            $0.auth.mailVerification = true
            $0.auth.userCreationPerHourPerIP = 2
        }) { registry, c in
            let page = String(buffer: try await c.send(.get, "/signin").body)
            #expect(page.contains(#"id="create-account""#))
            #expect(try await c.send(.get, "/signup").status == .ok)

            // Refusals: no address, weak password, bad name, the admin's name.
            for (body, message) in [
                (#"{"username":"erin","password":"long-enough-1"}"#, "e-mail address is required"),
                (#"{"username":"erin","password":"short","email":"erin@example.com"}"#, "Invalid password"),
                (#"{"username":"Erin!","password":"long-enough-1","email":"erin@example.com"}"#, "Invalid username"),
                (#"{"username":"\#(TestRegistry.adminName)","password":"long-enough-1","email":"erin@example.com"}"#, "already taken"),
            ] {
                let refused = try await Self.signUp(c, body)
                #expect(refused.status == .badRequest, "\(body)")
                #expect(((refused.json as? [String: Any])?["error_message"] as? String)?.contains(message) == true, "\(String(buffer: refused.body))")
            }
            #expect(try await registry.services.accounts.userAccount(named: "erin") == nil)

            let created = try await Self.signUp(c, #"{"username":"erin","password":"long-enough-1","email":"erin@example.com"}"#)
            #expect(created.status == .ok, "\(String(buffer: created.body))")
            #expect((created.json as? [String: Any])?["awaiting_verification"] as? Bool == true)
            #expect(created.headers[.setCookie]?.hasPrefix(WebSession.cookieName + "=") == true)

            // Signed in, may create and pull, but a push is not granted.
            let push = try #require(try await c.token(.init("erin", "long-enough-1"), scopes: ["repository:erin/app:pull,push"]))
            let claims = try await registry.services.tokens.verify(push, audience: "localhost")
            #expect(claims.actions(for: "erin/app") == [.pull])

            let session: HTTPFields = [.cookie: String(try #require(created.headers[.setCookie]?.split(separator: ";").first))]
            #expect((try await c.send(.get, "/api/v1/user/", headers: session).json as? [String: Any])?["verified"] as? Bool == false)

            // The mail carries the link; opening it confirms the address, once.
            let mail = try #require(try await registry.services.mail.mails(kind: .emailVerification, reference: "erin").first)
            #expect(mail.recipient == "erin@example.com")
            let body = try mail.body(opening: registry.services.secretBox)
            let code = try #require(body.split(separator: "code=").last.map { String($0.prefix { !$0.isWhitespace }) })
            #expect(try await c.send(.get, "/confirm?code=wrong").status == .badRequest)
            let confirmed = try await c.send(.get, "/confirm?code=\(code)")
            #expect(confirmed.status == .ok && String(buffer: confirmed.body).contains("confirmed"))
            #expect(try await c.send(.get, "/confirm?code=\(code)").status == .badRequest)
            #expect((try await c.send(.get, "/api/v1/user/", headers: session).json as? [String: Any])?["verified"] as? Bool == true)
            let pushNow = try #require(try await c.token(.init("erin", "long-enough-1"), scopes: ["repository:erin/app:pull,push"]))
            #expect(try await registry.services.tokens.verify(pushNow, audience: "localhost").actions(for: "erin/app") == [.pull, .push])

            // Per-address limit (2 an hour here): the third account from this address is refused.
            #expect(try await Self.signUp(c, #"{"username":"fred","password":"long-enough-1","email":"fred@example.com"}"#).status == .ok)
            let limited = try await Self.signUp(c, #"{"username":"gina","password":"long-enough-1","email":"gina@example.com"}"#)
            #expect(limited.status == .tooManyRequests)
            #expect((limited.json as? [String: Any])?["error_type"] as? String == "too_many_requests")
            #expect(try await registry.services.accounts.userAccount(named: "gina") == nil)
            #expect(try await registry.services.mail.mails(kind: .emailVerification, reference: "gina").isEmpty)
        }
    }

    @Test func withoutMailVerificationAccountsPushAtOnce() async throws {
        try await TestRegistry.with(.sqlite, configure: { $0.auth.userCreation = true }) { registry, c in
            let created = try await Self.signUp(c, #"{"username":"hal","password":"long-enough-1"}"#)
            #expect(created.status == .ok)
            #expect((created.json as? [String: Any])?["awaiting_verification"] as? Bool == false)
            let push = try #require(try await c.token(.init("hal", "long-enough-1"), scopes: ["repository:hal/app:pull,push"]))
            #expect(try await registry.services.tokens.verify(push, audience: "localhost").actions(for: "hal/app") == [.pull, .push])
        }
    }

    @Test func disabledByDefault() async throws {
        try await TestRegistry.with(.sqlite) { registry, c in
            let refused = try await Self.signUp(c, #"{"username":"ivan","password":"long-enough-1"}"#)
            #expect(refused.status == .forbidden)
            #expect(try await registry.services.accounts.userAccount(named: "ivan") == nil)
            #expect(try await c.send(.get, "/signup").status == .notFound)
            #expect(!String(buffer: try await c.send(.get, "/signin").body).contains("create-account"))
        }
    }
}
