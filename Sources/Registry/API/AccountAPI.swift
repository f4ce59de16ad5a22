import Accounts
import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// The signed-in user's account settings and deletion, and other users' public profiles
/// (quay-reference §1.12; Quay's `endpoints/api/user.py`).
///
/// Routes and the permission each needs (enforced by `APIRoutes`):
/// - PUT    /api/v1/user/             signed in, user:admin — `{password?, email?, tag_expiration_s?}` → the user view
/// - DELETE /api/v1/user/             signed in, user:admin — 204; 400 while the last admin of an organization
/// - GET    /api/v1/users/{username}  anonymous — public profile; 404 for organizations, robots and unknown names
struct AccountAPI {
    let services: RegistryServices

    /// The time-machine windows the guide offers: none, 1 day, 1 week, 2 weeks, 4 weeks.
    static let tagExpirationChoices: Set<Int64> = [0, 86_400, 604_800, 1_209_600, 2_419_200]

    func register(_ api: APIRoutes) {
        api.add(.put, "/api/v1/user/", .user(scope: "user:admin")) { try await updateUser($0) }
        api.add(.delete, "/api/v1/user/", .user(scope: "user:admin")) { try await deleteUser($0) }
        api.add(.get, "/api/v1/users/{username}", .anonymous) { try await publicProfile($0) }
    }

    struct UpdateUser: Decodable {
        let password: String?
        let email: String?
        let tag_expiration_s: Int64?
    }

    func updateUser(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        let input = try await r.decode(UpdateUser.self)
        if let password = input.password, let problem = Names.passwordProblem(password) {
            throw APIError.invalidRequest("Invalid password: \(problem)")
        }
        var newEmail: String?
        if let email = input.email?.trimmingCharacters(in: .whitespaces), email != user.email {
            guard Self.isPlausibleEmail(email) else { throw APIError.invalidRequest("Invalid e-mail address") }
            if try await services.accounts.userEmailInUse(email, exceptUserID: user.id) {
                throw APIError.invalidRequest("E-mail address already used")
            }
            newEmail = email
        }
        if let seconds = input.tag_expiration_s, !Self.tagExpirationChoices.contains(seconds) {
            throw APIError.invalidRequest("tag_expiration_s must be one of 0, 86400, 604800, 1209600 or 2419200 seconds")
        }
        var passwordHash: String?
        if let password = input.password { passwordHash = try await services.hasher.hash(password) }
        // A password change signs out every other browser; the session making the change stays.
        let currentSession = r.caller?.viaSession == true
            ? (r.request.cookies[APIAuthenticator.sessionCookie]?.value).map(APITokens.hash) : nil
        try await services.accounts.updateAccount(userID: user.id, passwordHash: passwordHash, email: newEmail,
                                               tagExpirationSeconds: input.tag_expiration_s, keepSessionHash: currentSession)
        if passwordHash != nil {
            r.context.logger.info("user changed password", metadata: ["user": "\(user.name)"])
        }
        guard let updated = try await services.accounts.namespace(id: user.id) else { throw APIError.notFound("user not found") }
        return try await UserAPI(services: services).view(of: updated)
    }

    func deleteUser(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        try await remove(user, subject: "You are")
        r.context.logger.info("user deleted their account", metadata: ["user": "\(user.name)"])
        return APIResponse.noContent()
    }

    /// Deletes a user account: the user's own `DELETE` and the superuser's both come here.
    /// `subject` starts the refusal ("You are", or "alice is").
    func remove(_ user: Namespace, subject: String) async throws {
        do {
            try await services.accounts.deleteAccount(userID: user.id)
        } catch AccountDeletionRefusal.lastAdmin(let organizations) {
            throw APIError.invalidRequest(
                "\(subject) the last admin of \(organizations.joined(separator: ", ")): add another admin or delete the organization first")
        }
    }

    struct PublicProfile: Encodable {
        let anonymous = false
        let username: String
        let avatar: Avatar
        let is_org = false
    }

    func publicProfile(_ r: APIRequest) async throws -> Response {
        guard let user = try await services.accounts.userAccount(named: r.parameter("username")) else {
            throw APIError.notFound("user not found")
        }
        return APIResponse.json(PublicProfile(username: user.name, avatar: .user(user)))
    }

    /// `local@domain.tld`: one `@`, no whitespace or control characters, a dotted domain, ≤ 254 characters.
    static func isPlausibleEmail(_ s: String) -> Bool {
        guard s.count <= 254, !s.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }) else {
            return false
        }
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64 else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty && !$0.hasPrefix("-") && !$0.hasSuffix("-") }
    }
}
