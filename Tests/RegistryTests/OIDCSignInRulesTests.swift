import Foundation
@testable import Registry
import Testing

/// The pure parts of web sign-in: PKCE, the ID token checks, the suggested username.
@Suite("OIDC sign-in rules")
struct OIDCSignInRulesTests {
    @Test func pkceS256MatchesTheRFCExample() {
        // RFC 7636 appendix B.
        #expect(PKCE.challenge(for: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        let a = PKCE.randomValue(), b = PKCE.randomValue()
        #expect(a.count == 43 && a != b)
        #expect(a.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
    }

    static func claims(_ json: [String: Any]) throws -> OIDCTokenClaims {
        try JSONDecoder().decode(OIDCTokenClaims.self, from: try JSONSerialization.data(withJSONObject: json))
    }

    @Test func idTokenChecks() throws {
        let now = Date()
        let good: [String: Any] = ["iss": "https://idp", "sub": "u1", "aud": "slipway", "exp": now.timeIntervalSince1970 + 60, "nonce": "n1"]
        try IDTokenCheck.check(try Self.claims(good), issuer: "https://idp", clientID: "slipway", nonce: "n1", now: now)

        func refused(_ change: [String: Any], _ reason: OIDCFailure.Reason, nonce: String = "n1") throws {
            let claims = try Self.claims(good.merging(change) { $1 })
            do {
                try IDTokenCheck.check(claims, issuer: "https://idp", clientID: "slipway", nonce: nonce, now: now)
                Issue.record("accepted \(change)")
            } catch {
                #expect(error.reason == reason, "\(change): \(error.message)")
            }
        }
        try refused(["iss": "https://other"], .mismatch)
        try refused(["aud": "another-client"], .mismatch)
        try refused(["aud": ["slipway", "other"]], .mismatch)  // several audiences and no azp
        try refused(["exp": now.timeIntervalSince1970 - 120], .expired)
        try refused(["nbf": now.timeIntervalSince1970 + 600], .notYetValid)
        try refused(["nonce": "n2"], .mismatch)
        try refused([:], .mismatch, nonce: "n2")
        // Several audiences with azp naming us are fine.
        try IDTokenCheck.check(try Self.claims(good.merging(["aud": ["slipway", "other"], "azp": "slipway"]) { $1 }),
                               issuer: "https://idp", clientID: "slipway", nonce: "n1", now: now)
    }

    @Test(arguments: [
        ("Alice.Smith", "alice.smith"), ("élodie dupont", "lodie_dupont"), ("__x__", "userx"), ("a", "usera"),
        ("john..doe--x", "john.doe-x"), ("UPPER_case", "upper_case"), (String(repeating: "a", count: 40), String(repeating: "a", count: 30)),
    ])
    func usernameBase(raw: String, expected: String) {
        #expect(UsernameSuggestion.base(raw) == expected)
        #expect(Names.isValidNamespace(UsernameSuggestion.base(raw)))
    }

    @Test func suggestionSkipsTakenNames() async throws {
        let taken: Set<String> = ["alice", "alice2"]
        let name = try await UsernameSuggestion.suggest(from: ["email": "alice@example.com"], usernameClaim: "preferred_username",
                                                        emailClaim: "email") { taken.contains($0) }
        #expect(name == "alice3")
    }
}
