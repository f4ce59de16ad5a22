import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The signed-in user, web sign-in/sign-out, and organization creation/lookup.
///
/// Routes and the permission each needs (enforced by `APIRoutes`):
/// - GET  /api/v1/user/                 signed in, user:read
/// - POST /api/v1/signin                anonymous (credentials in the body)
/// - POST /api/v1/signout               anonymous (ends the cookie session if any)
/// - GET  /csrf_token                   (plain route) the session's CSRF token
/// - POST /api/v1/organization/         signed in, user:admin
/// - GET  /api/v1/organization/{orgname} signed in, user:read (members also see teams)
struct UserAPI {
    let services: RegistryServices

    static let sessionLifetimeSeconds: Int64 = 14 * 24 * 3600

    func register(_ api: APIRoutes) {
        api.add(.get, "/api/v1/user/", .user(scope: "user:read")) { try await currentUser($0) }
        api.add(.post, "/api/v1/signin", .anonymous) { try await signIn($0) }
        api.add(.post, "/api/v1/signout", .anonymous) { try await signOut($0) }
        api.add(.post, "/api/v1/organization/", .user(scope: "user:admin")) { try await createOrganization($0) }
        api.add(.get, "/api/v1/organization/{orgname}", .user(scope: "user:read")) { try await organization($0) }
    }

    struct UserView: Encodable {
        struct Org: Encodable { let name: String; let is_org_admin: Bool }
        let anonymous = false
        let username: String
        let email: String?
        let verified = true
        let organizations: [Org]
        let can_create_repo = true
        let preferred_namespace = false
        let super_user: Bool
    }

    func currentUser(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        var orgs: [UserView.Org] = []
        for org in try await services.store.organizations(ofUser: user.id) {
            let role = try await services.store.teamRole(userID: user.id, organizationID: org.id)
            orgs.append(.init(name: org.name, is_org_admin: role == .admin))
        }
        return APIResponse.json(UserView(username: user.name, email: user.email, organizations: orgs, super_user: user.isSuperuser))
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
        guard let (user, hash) = try await services.store.passwordHash(user: input.username),
              try await services.hasher.verify(input.password, hash: hash) else {
            throw APIError(.forbidden, "invalid_credentials", "Invalid username or password")
        }
        let sessionID = APITokens.generate()
        let csrf = APITokens.generate()
        try await services.store.createSession(userID: user.id, idHash: APITokens.hash(sessionID), csrfToken: csrf,
                                               lifetimeSeconds: Self.sessionLifetimeSeconds)
        let secure = r.origin.hasPrefix("https://")
        let cookie = Cookie(name: APIAuthenticator.sessionCookie, value: sessionID, maxAge: Int(Self.sessionLifetimeSeconds), path: "/",
                            secure: secure, httpOnly: true, sameSite: .lax)
        return APIResponse.json(SignInResult(success: true, csrf_token: csrf), headers: [.setCookie: cookie.description])
    }

    func signOut(_ r: APIRequest) async throws -> Response {
        if let value = r.request.cookies[APIAuthenticator.sessionCookie]?.value {
            try await services.store.deleteSession(hash: APITokens.hash(value))
        }
        let expired = Cookie(name: APIAuthenticator.sessionCookie, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .lax)
        return APIResponse.json(["success": true], headers: [.setCookie: expired.description])
    }

    struct CreateOrganization: Decodable {
        let name: String
        let email: String?
    }

    func createOrganization(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        let input = try await r.decode(CreateOrganization.self)
        guard Names.isValidNamespace(input.name) else {
            throw APIError.invalidRequest("Invalid organization name: use 2-255 characters of a-z, 0-9 and single '.', '_' or '-' between them")
        }
        do {
            try await services.store.createOrganization(name: input.name, email: input.email, creatorID: user.id)
        } catch MetadataError.alreadyExists {
            throw APIError.invalidRequest("A user or organization with this name already exists")
        }
        return APIResponse.message("Created", status: .created)
    }

    struct OrganizationView: Encodable {
        struct Team: Encodable { let name: String; let role: String }
        let name: String
        let email: String?
        let is_admin: Bool
        let is_member: Bool
        let teams: [String: Team]?
    }

    func organization(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        guard let org = try await services.store.namespace(named: r.parameter("orgname")), org.kind == .organization else {
            throw APIError.notFound("organization not found")
        }
        let role = try await services.store.teamRole(userID: user.id, organizationID: org.id)
        var teams: [String: OrganizationView.Team]?
        if role != nil {
            teams = Dictionary(uniqueKeysWithValues: try await services.store.teams(organizationID: org.id).map {
                ($0.name, OrganizationView.Team(name: $0.name, role: $0.role))
            })
        }
        return APIResponse.json(OrganizationView(name: org.name, email: role == .admin ? org.email : nil, is_admin: role == .admin,
                                                 is_member: role != nil, teams: teams))
    }
}

extension MetadataStore {
    public func teams(organizationID: Int64) async throws -> [(name: String, role: String)] {
        try await database.read { db in
            try await db.raw("SELECT name, role FROM teams WHERE org_id = \(bind: organizationID) ORDER BY name").all().map {
                (try $0.string("name"), try $0.string("role"))
            }
        }
    }
}
