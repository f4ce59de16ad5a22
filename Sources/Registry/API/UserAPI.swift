import Accounts
import Audit
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The signed-in user and web sign-in/sign-out. Organizations live in `OrganizationAPI`.
///
/// Routes and the permission each needs (enforced by `APIRoutes`):
/// - GET  /api/v1/user/                 signed in, user:read
/// - POST /api/v1/signin                anonymous (credentials in the body)
/// - POST /api/v1/signout               anonymous (ends the cookie session if any)
/// - GET  /csrf_token                   (plain route) the session's CSRF token
struct UserAPI {
    let services: RegistryServices

    func register(_ api: APIRoutes) {
        api.add(.get, "/api/v1/user/", .user(scope: "user:read")) { try await currentUser($0) }
        api.add(.post, "/api/v1/signin", .anonymous) { try await signIn($0) }
        api.add(.post, "/api/v1/signout", .anonymous) { try await signOut($0) }
    }

    struct UserView: Encodable {
        struct Org: Encodable { let name: String; let avatar: Avatar; let is_org_admin: Bool; let can_create_repo = true; let preferred_namespace = false }
        /// A linked single sign-on identity (Quay: `{service, service_identifier}`).
        struct Login: Encodable { let service: String; let service_identifier: String }
        let anonymous = false
        let username: String
        let avatar: Avatar
        let email: String?
        /// False while a self-created account has not opened its confirmation link.
        let verified: Bool
        let is_me = true
        let logins: [Login]
        let prompts: [String] = []
        let organizations: [Org]
        let can_create_repo = true
        let preferred_namespace = false
        let super_user: Bool
        let tag_expiration_s: Int64
    }

    func currentUser(_ r: APIRequest) async throws -> Response {
        try await view(of: r.user)
    }

    /// The user view of `GET /api/v1/user/`, also the answer to `PUT /api/v1/user/`.
    func view(of user: Namespace) async throws -> Response {
        var orgs: [UserView.Org] = []
        for org in try await services.accounts.organizations(ofUser: user.id) {
            let role = try await services.accounts.teamRole(userID: user.id, organizationID: org.id)
            orgs.append(.init(name: org.name, avatar: .organization(org.name, email: org.email), is_org_admin: role == .admin))
        }
        let tagExpiration = try await services.accounts.userTagExpirationSeconds(userID: user.id)
        let logins = try await services.accounts.externalLogins(userID: user.id).map { UserView.Login(service: $0.service, service_identifier: $0.subject) }
        let verified = try await services.accounts.isEmailVerified(userID: user.id)
        return APIResponse.json(UserView(username: user.name, avatar: .user(user), email: user.email, verified: verified, logins: logins, organizations: orgs,
                                         super_user: user.isSuperuser, tag_expiration_s: tagExpiration))
    }

    struct SignIn: Decodable {
        let username: String
        let password: String
    }

    struct SignInResult: Encodable {
        let success: Bool
        let csrf_token: String
    }

    func signIn(_ r: APIRequest) async throws -> Response {
        let input = try await r.decode(SignIn.self)
        let userAgent = r.request.headers[.userAgent]
        let found = try await services.accounts.passwordHash(user: input.username)
        // With `auth.internalLogin: false` passwords are only a superuser's way back in; the
        // password is not even checked for anyone else (no oracle for it).
        guard services.config.auth.internalLogin || found?.0.isSuperuser == true else {
            let message = "Password sign-in is disabled: sign in with your organization's single sign-on"
            services.auditLog.record(.loginFailure(username: input.username, account: found?.0, via: .web, message: message, ip: r.ip, userAgent: userAgent))
            throw APIError(.forbidden, "invalid_credentials", message)
        }
        guard let (user, hash) = found, try await services.hasher.verify(input.password, hash: hash) else {
            let message = "Invalid username or password"
            // The attempted account (if it is a user) sees the failure in its logs; a user
            // without a password is still that user.
            var account = found?.0
            if account == nil, let named = try await services.accounts.namespace(named: input.username), named.kind == .user { account = named }
            services.auditLog.record(.loginFailure(username: input.username, account: account, via: .web, message: message, ip: r.ip, userAgent: userAgent))
            throw APIError(.forbidden, "invalid_credentials", message)
        }
        let session = try await WebSession.start(for: user, accounts: services.accounts, secure: r.origin.hasPrefix("https://"))
        services.auditLog.record(.loginSuccess(AuditEvent.Actor(id: user.id, name: user.name, kind: "user"), via: .web, ip: r.ip, userAgent: userAgent))
        return APIResponse.json(SignInResult(success: true, csrf_token: session.csrfToken), headers: [.setCookie: session.setCookie])
    }

    func signOut(_ r: APIRequest) async throws -> Response {
        if let value = r.request.cookies[APIAuthenticator.sessionCookie]?.value {
            try await services.accounts.deleteSession(hash: APITokens.hash(value))
        }
        let expired = Cookie(name: APIAuthenticator.sessionCookie, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .lax)
        return APIResponse.json(["success": true], headers: [.setCookie: expired.description])
    }
}
