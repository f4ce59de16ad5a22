import Accounts
import Foundation
import Hummingbird

/// The authenticated caller of an `/api/v1` request and the OAuth-style scopes that cap it.
public struct APICaller: Sendable {
    public let user: Namespace
    public let scopes: Set<String>
    /// Signed in through the web session cookie (writes then need the CSRF token).
    public let viaSession: Bool
    public let csrfToken: String?

    public static let allScopes: Set<String> = ["repo:read", "repo:write", "repo:admin", "repo:create", "user:read", "user:admin", "org:admin"]

    public init(user: Namespace, scopes: Set<String>, viaSession: Bool = false, csrfToken: String? = nil) {
        self.user = user
        self.scopes = scopes
        self.viaSession = viaSession
        self.csrfToken = csrfToken
    }

    /// Scopes cap what a token may do; they never grant a role the user lacks.
    public func require(_ scope: String) throws(APIError) {
        if scopes.contains(scope) || scopes.contains("super:user") { return }
        // admin ⊃ write ⊃ read within each family.
        let implied: [String: [String]] = [
            "repo:read": ["repo:write", "repo:admin"], "repo:write": ["repo:admin"],
            "user:read": ["user:admin"],
        ]
        if let stronger = implied[scope], stronger.contains(where: scopes.contains) { return }
        throw APIError.insufficientScope("the token lacks the \(scope) scope")
    }
}

/// The web session cookie, shared by the API (which sets and reads it) and the UI pages.
public enum WebSession {
    public static let cookieName = "slipway_session"
}

/// Resolves the caller of an `/api/v1` request: `Authorization: Bearer <API, OAuth or app token>` or the web
/// session cookie. A presented but unknown credential is a 401, never a silent anonymous.
struct APIAuthenticator: Sendable {
    let services: RegistryServices

    static let sessionCookie = WebSession.cookieName

    func caller(_ request: Request) async throws -> APICaller? {
        if let header = request.headers[.authorization] {
            guard header.count > 7, header.prefix(7).lowercased() == "bearer " else {
                throw APIError(.unauthorized, "invalid_token", "The API takes bearer tokens; Basic credentials are for the registry")
            }
            let hash = APITokens.hash(String(header.dropFirst(7)))
            if let (user, scopes) = try await services.accounts.apiToken(hash: hash) {
                return APICaller(user: user, scopes: Set(scopes))
            }
            // An app-specific token acts as its user with every scope, like a signed-in session.
            if let user = try await services.accounts.userForAppToken(hash: hash) {
                return APICaller(user: user, scopes: APICaller.allScopes)
            }
            throw APIError(.unauthorized, "invalid_token", "The access token is invalid or expired")
        }
        if let cookie = request.cookies[Self.sessionCookie]?.value, !cookie.isEmpty {
            guard let (user, csrf) = try await services.accounts.session(hash: APITokens.hash(cookie)) else {
                return nil  // expired session: treated as signed out, so the UI can show the sign-in page
            }
            return APICaller(user: user, scopes: APICaller.allScopes, viaSession: true, csrfToken: csrf)
        }
        return nil
    }
}
