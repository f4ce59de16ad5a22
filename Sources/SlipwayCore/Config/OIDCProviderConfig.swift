import Foundation

/// One OpenID Connect provider users sign in to the web UI with (`auth.oidc[]`).
///
/// The client secret is never printed: `description` redacts it, so a logged configuration
/// cannot leak it.
public struct OIDCProviderConfig: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// Short name: the button ("Sign in with NAME"), the callback URL `/oauth2/<name>/callback`
    /// and the `service` of linked logins. Lower-case letters, digits and `-`.
    public var name: String
    /// The issuer URL exactly as the provider's discovery document and ID tokens name it.
    public var issuer: String
    public var clientID: String
    public var clientSecret: String
    public var scopes: [String] = ["openid", "profile", "email"]
    /// The claim the first sign-in's suggested username is made from.
    public var usernameClaim = "preferred_username"
    public var emailClaim = "email"
    /// The claim holding the user's groups (team sync; empty: none).
    public var groupsClaim = ""

    public init(name: String, issuer: String, clientID: String, clientSecret: String) {
        self.name = name
        self.issuer = issuer
        self.clientID = clientID
        self.clientSecret = clientSecret
    }

    public var description: String {
        "OIDCProvider(name: \(name), issuer: \(issuer), clientID: \(clientID), clientSecret: \(clientSecret.isEmpty ? "" : "<redacted>"), "
            + "scopes: \(scopes), usernameClaim: \(usernameClaim), emailClaim: \(emailClaim), groupsClaim: \(groupsClaim))"
    }

    public var debugDescription: String { description }

    /// Lower-case letters, digits and inner `-`, 1-32 characters: it is a URL path segment.
    public static func isValidName(_ name: String) -> Bool {
        let u = Array(name.utf8)
        guard !u.isEmpty, u.count <= 32, u.first != UInt8(ascii: "-"), u.last != UInt8(ascii: "-") else { return false }
        return u.allSatisfy { ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "-") }
    }
}
