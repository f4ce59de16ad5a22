import Foundation
import SlipwayCore
import Testing

/// `auth.oidc` providers and `auth.internalLogin`, in Slipway's shape and Quay's.
@Suite("Configuration: single sign-on providers")
struct OIDCProviderConfigTests {
    static func load(_ yaml: String) throws -> SlipwayConfig {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("oidc-\(UUID().uuidString).yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        return try ConfigLoader.load(file: file.path, environment: [:])
    }

    @Test func providersListWithDefaults() throws {
        let c = try Self.load("""
            auth:
              internalLogin: false
              oidc:
                - name: keycloak
                  issuer: https://sso.example.com/realms/dev
                  clientID: slipway
                  clientSecret: s3cret
                  groupsClaim: groups
                - name: gitlab
                  issuer: https://gitlab.example.com
                  clientID: abc
                  scopes: [openid, email]
                  usernameClaim: nickname
            """)
        #expect(!c.auth.internalLogin)
        #expect(c.auth.oidc.map(\.name) == ["keycloak", "gitlab"])
        let keycloak = c.auth.oidc[0]
        #expect(keycloak.issuer == "https://sso.example.com/realms/dev" && keycloak.clientSecret == "s3cret" && keycloak.groupsClaim == "groups")
        #expect(keycloak.scopes == ["openid", "profile", "email"] && keycloak.usernameClaim == "preferred_username" && keycloak.emailClaim == "email")
        #expect(c.auth.oidc[1].scopes == ["openid", "email"] && c.auth.oidc[1].usernameClaim == "nickname")
        // The secret never reaches a printed configuration.
        #expect(!"\(c)".contains("s3cret") && !String(reflecting: keycloak).contains("s3cret"))
    }

    @Test func quayLoginConfigAndDirectLogin() throws {
        let c = try Self.load("""
            FEATURE_DIRECT_LOGIN: false
            KEYCLOAK_LOGIN_CONFIG:
              CLIENT_ID: quay
              CLIENT_SECRET: s3cret
              OIDC_SERVER: https://sso.example.com/realms/dev/
              SERVICE_NAME: Keycloak
              LOGIN_SCOPES: [openid, profile]
              PREFERRED_GROUP_CLAIM_NAME: groups
            """)
        #expect(!c.auth.internalLogin)
        let p = try #require(c.auth.oidc.first)
        #expect(p.name == "keycloak" && p.issuer == "https://sso.example.com/realms/dev" && p.clientID == "quay")
        #expect(p.scopes == ["openid", "profile"] && p.groupsClaim == "groups")
    }

    @Test(arguments: [
        ("auth:\n  oidc:\n    - name: Bad Name\n      issuer: https://a.example\n      clientID: x\n", "invalid OIDC provider name"),
        ("auth:\n  oidc:\n    - name: a\n      issuer: https://a.example\n      clientID: x\n    - name: a\n      issuer: https://b.example\n      clientID: y\n", "used twice"),
        ("auth:\n  oidc:\n    - name: a\n      issuer: ftp://a.example\n      clientID: x\n", "invalid issuer"),
        ("auth:\n  oidc:\n    - name: a\n      issuer: https://a.example\n", "needs name, issuer and clientID"),
        ("auth:\n  oidc:\n    - name: a\n      issuer: https://a.example\n      clientID: x\n      scopes: [email]\n", "must include openid"),
        ("auth:\n  oidc:\n    - name: a\n      issuer: https://a.example\n      clientID: x\n      colour: blue\n", "unknown key 'colour'"),
        ("auth:\n  oidc: keycloak\n", "must be a list"),
        ("GITHUB_LOGIN_CONFIG:\n  CLIENT_ID: x\n", "needs OIDC_SERVER"),
    ])
    func badProvidersFailStartUp(yaml: String, message: String) throws {
        do {
            _ = try Self.load(yaml)
            Issue.record("accepted: \(yaml)")
        } catch let error as ConfigError {
            #expect(error.message.contains(message), "\(error.message)")
        }
    }
}
