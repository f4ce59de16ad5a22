import Accounts
import Hummingbird

extension WebSession {
    /// How long a web sign-in lasts.
    public static let lifetimeSeconds: Int64 = 14 * 24 * 3600

    /// Starts a web session for `user` (password or single sign-on): stores it (only the hash
    /// of the cookie value) and returns the `Set-Cookie` value and the session's CSRF token.
    public static func start(for user: Namespace, accounts: AccountStore, secure: Bool) async throws -> (setCookie: String, csrfToken: String) {
        let sessionID = APITokens.generate()
        let csrf = APITokens.generate()
        try await accounts.createSession(userID: user.id, idHash: APITokens.hash(sessionID), csrfToken: csrf, lifetimeSeconds: lifetimeSeconds)
        let cookie = Cookie(name: cookieName, value: sessionID, maxAge: Int(lifetimeSeconds), path: "/", secure: secure, httpOnly: true, sameSite: .lax)
        return (cookie.description, csrf)
    }
}
