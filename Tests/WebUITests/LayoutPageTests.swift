import Foundation
import HTTPTypes
import HummingbirdTesting
import Registry
import SlipwayTestSupport
import Testing

@Suite("Web UI: layout, sign-in, explore, security headers")
struct LayoutPageTests {
    @Test func signInPageRendersWithSecurityHeaders() async throws {
        try await TestRegistry.with(.sqlite) { _, client in
            let response = try await WebSession.anonymous(client).get("/signin?redirect=/repository/")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/html; charset=utf-8")
            let csp = response.headers[HTTPField.Name("Content-Security-Policy")!] ?? ""
            #expect(csp.contains("script-src 'self'"))
            #expect(!csp.contains("unsafe-inline"))
            #expect(csp.contains("frame-ancestors 'none'"))
            #expect(response.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
            #expect(response.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            #expect(response.text.contains(#"id="signin-form""#))
            #expect(response.text.contains(#"<script src="/static/js/signin.js" defer>"#))
            // No inline script anywhere: the CSP would block it.
            #expect(!response.text.contains("<script>"))
        }
    }

    @Test func staticAssetsAreServedAndTraversalIsNot() async throws {
        try await TestRegistry.with(.sqlite) { _, client in
            let css = try await client.send(.get, "/static/slipway.css")
            #expect(css.status == .ok)
            #expect(css.headers[.contentType] == "text/css; charset=utf-8")
            let etag = try #require(css.headers[.eTag])
            #expect(try await client.send(.get, "/static/slipway.css", headers: [.ifNoneMatch: etag]).status == .notModified)
            let js = try await client.send(.get, "/static/js/common.js")
            #expect(js.status == .ok)
            #expect(js.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            for bad in ["/static/../Templates/layout.mustache", "/static/%2e%2e/Templates/layout.mustache", "/static/nope.js"] {
                #expect(try await client.send(.get, bad).status == .notFound, "\(bad)")
            }
        }
    }

    @Test func signInRedirectsOnlyToLocalPaths() async throws {
        try await TestRegistry.with(.sqlite) { _, client in
            let page = try await WebSession.anonymous(client).get("/signin?redirect=//evil.example/x")
            #expect(page.text.contains(#"data-redirect="/repository/""#))
            let session = try await WebSession.signIn(client, TestRegistry.adminName)
            let signedIn = try await session.get("/signin?redirect=/explore")
            #expect(signedIn.status == .seeOther)
            #expect(signedIn.headers[.location] == "/explore")
        }
    }

    @Test func layoutShowsUserMenuAndReadOnlyBanner() async throws {
        try await TestRegistry.with(.sqlite, configure: { $0.registry.readOnly = true }) { _, client in
            let anonymous = try await WebSession.anonymous(client).get("/explore")
            #expect(anonymous.status == .ok)
            #expect(anonymous.text.contains(#"id="readonly-banner""#))
            #expect(anonymous.text.contains(#"id="signin-link""#))
            let session = try await WebSession.signIn(client, TestRegistry.adminName)
            let page = try await session.get("/explore")
            #expect(page.text.contains(#"id="signout""#))
            #expect(page.text.contains(#"id="bell""#))
            #expect(page.text.contains(#"<meta name="csrf-token" content="\#(session.csrf!)">"#))
        }
    }
}
