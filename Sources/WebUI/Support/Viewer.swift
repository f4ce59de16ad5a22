import Accounts
import Foundation
import Hummingbird
import Registry

/// Who is looking at a page: the signed-in user of the web session cookie, or nobody.
///
/// Pages only accept the cookie session that `POST /api/v1/signin` sets (the same session
/// table the API's cookie authentication reads); bearer tokens are for API clients. The CSRF
/// token of the session is put into the page so its scripts can call the API.
struct Viewer: Sendable {
    let user: Namespace?
    let csrfToken: String

    static let anonymous = Viewer(user: nil, csrfToken: "")

    /// The cookie `UserAPI.signIn` sets.
    static let sessionCookie = WebSession.cookieName

    static func resolve(_ request: Request, accounts: AccountStore) async throws -> Viewer {
        guard let value = request.cookies[sessionCookie]?.value, !value.isEmpty,
              let (user, csrf) = try await accounts.session(hash: APITokens.hash(value)) else {
            return .anonymous
        }
        return Viewer(user: user, csrfToken: csrf)
    }

    /// The identity the access policy knows (a web session acts with every scope of its user).
    var identity: Identity { user.map { .user($0) } ?? .anonymous }
}
