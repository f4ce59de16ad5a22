import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import SlipwayCore

/// Credentials other than passwords (quay-reference §1.12, §2.2):
/// app-specific tokens (registry username `$app`, also an API bearer with all of the user's
/// scopes), organization OAuth applications and the scoped access tokens they issue (API bearer,
/// registry username `$oauthtoken`), and repository delegate tokens (registry username `$token`:
/// one repository, read or write). Secrets are returned once and stored hashed.
///
/// Routes and the permission each needs (enforced by `APIRoutes`):
/// - GET    /api/v1/user/apptoken                                         user:admin
/// - POST   /api/v1/user/apptoken                                         user:admin — `{title*}` → token incl. `token_code`
/// - GET    /api/v1/user/apptoken/{token_uuid}                            user:admin (own tokens only; never the code)
/// - DELETE /api/v1/user/apptoken/{token_uuid}                            user:admin
/// - GET    /api/v1/organization/{orgname}/applications                   organization admin
/// - POST   /api/v1/organization/{orgname}/applications                   organization admin — `{name*, redirect_uri?, application_uri?, description?, avatar_email?}`
/// - GET    /api/v1/organization/{orgname}/applications/{client_id}       organization admin
/// - PUT    /api/v1/organization/{orgname}/applications/{client_id}       organization admin — `{name*, redirect_uri*, application_uri*, description?, avatar_email?}`
/// - DELETE /api/v1/organization/{orgname}/applications/{client_id}       organization admin (its tokens die with it)
/// - POST   /api/v1/organization/{orgname}/applications/{client_id}/tokens organization admin — `{scope*, name?, expiration?}` → `access_token`
/// - DELETE /api/v1/organization/{orgname}/applications/{client_id}/tokens/{token_uuid} organization admin
/// - GET    /api/v1/repository/{repository}/tokens/                       repository admin
/// - POST   /api/v1/repository/{repository}/tokens/                       repository admin — `{friendlyName*, role? read|write}` → incl. `code`
/// - GET    /api/v1/repository/{repository}/tokens/{code_uuid}            repository admin
/// - PUT    /api/v1/repository/{repository}/tokens/{code_uuid}            repository admin — `{role* read|write}`
/// - DELETE /api/v1/repository/{repository}/tokens/{code_uuid}            repository admin
struct TokenAPI {
    let services: RegistryServices

    static let appTokenLength = 120
    static let delegateCodeLength = 64
    /// OAuth access tokens live ten years unless the request asks for less, as in Quay.
    static let defaultOAuthTokenLifetime: Int64 = 10 * 365 * 24 * 3600

    func register(_ api: APIRoutes) {
        api.add(.get, "/api/v1/user/apptoken", .user(scope: "user:admin")) { try await listAppTokens($0) }
        api.add(.post, "/api/v1/user/apptoken", .user(scope: "user:admin")) { try await createAppToken($0) }
        api.add(.get, "/api/v1/user/apptoken/{token_uuid}", .user(scope: "user:admin")) { try await appToken($0) }
        api.add(.delete, "/api/v1/user/apptoken/{token_uuid}", .user(scope: "user:admin")) { try await revokeAppToken($0) }

        let apps = "/api/v1/organization/{orgname}/applications"
        api.add(.get, apps, .organizationAdmin) { try await listApplications($0) }
        api.add(.post, apps, .organizationAdmin) { try await createApplication($0) }
        api.add(.get, apps + "/{client_id}", .organizationAdmin) { try await application($0) }
        api.add(.put, apps + "/{client_id}", .organizationAdmin) { try await updateApplication($0) }
        api.add(.delete, apps + "/{client_id}", .organizationAdmin) { try await deleteApplication($0) }
        api.add(.post, apps + "/{client_id}/tokens", .organizationAdmin) { try await createOAuthToken($0) }
        api.add(.delete, apps + "/{client_id}/tokens/{token_uuid}", .organizationAdmin) { try await revokeOAuthToken($0) }

        let tokens = APIRoutes.repositoryPrefix + "/tokens"
        api.add(.get, tokens + "/", .repository(.admin)) { try await listDelegateTokens($0) }
        api.add(.post, tokens + "/", .repository(.admin)) { try await createDelegateToken($0) }
        api.add(.get, tokens + "/{code_uuid}", .repository(.admin)) { try await delegateToken($0) }
        api.add(.put, tokens + "/{code_uuid}", .repository(.admin)) { try await updateDelegateToken($0) }
        api.add(.delete, tokens + "/{code_uuid}", .repository(.admin)) { try await deleteDelegateToken($0) }
    }

    // MARK: App-specific tokens

    struct AppTokenView: Encodable {
        // Quay sends unset dates as null; the code only in the creation answer.
        let uuid: String
        let title: String
        @NullWhenAbsent var last_accessed: String?
        @NullWhenAbsent var created: String?
        @NullWhenAbsent var expiration: String?
        let token_code: String?

        init(_ t: AppTokenRecord, code: String? = nil) {
            uuid = t.uuid
            title = t.title
            last_accessed = TokenAPI.date(t.lastAccessed)
            created = TokenAPI.date(t.createdAt)
            expiration = TokenAPI.date(t.expiration)
            token_code = code
        }

    }

    struct NewAppToken: Decodable { let title: String }

    func listAppTokens(_ r: APIRequest) async throws -> Response {
        let tokens = try await services.accounts.appTokens(userID: try r.user.id)
        return APIResponse.json(["tokens": tokens.map { AppTokenView($0) }])
    }

    func createAppToken(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        // An app token acts with every scope, so minting one must not widen a narrower token.
        try Self.requireGrantable(APICaller.allScopes.sorted(), by: r.caller)
        let title = try Self.validLabel(try await r.decode(NewAppToken.self).title, field: "title")
        let code = Self.randomCode(length: Self.appTokenLength)
        let token = try await services.accounts.createAppToken(userID: user.id, title: title, tokenHash: APITokens.hash(code))
        r.context.logger.info("app token created", metadata: ["user": "\(user.name)", "token.uuid": "\(token.uuid)"])
        return APIResponse.json(["token": AppTokenView(token, code: code)])
    }

    func appToken(_ r: APIRequest) async throws -> Response {
        guard let token = try await services.accounts.appToken(userID: try r.user.id, uuid: r.parameter("token_uuid")) else {
            throw APIError.notFound("app token not found")
        }
        return APIResponse.json(["token": AppTokenView(token)])
    }

    func revokeAppToken(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        guard try await services.accounts.deleteAppToken(userID: user.id, uuid: r.parameter("token_uuid")) else {
            throw APIError.notFound("app token not found")
        }
        r.context.logger.info("app token revoked", metadata: ["user": "\(user.name)", "token.uuid": "\(r.parameter("token_uuid"))"])
        return APIResponse.noContent()
    }

    // MARK: OAuth applications

    struct ApplicationView: Encodable {
        let name: String
        let description: String
        let application_uri: String
        let client_id: String
        let client_secret: String
        let redirect_uri: String
        @NullWhenAbsent var avatar_email: String?
    }

    /// Only organization admins reach these routes, and Quay shows them the client secret.
    func view(_ app: OAuthApplicationRecord) throws -> ApplicationView {
        let secret = try services.secretBox.open(app.clientSecretSealed, context: Self.secretContext(app.clientID))
        return ApplicationView(name: app.name, description: app.description, application_uri: app.applicationURI, client_id: app.clientID,
                               client_secret: secret, redirect_uri: app.redirectURI, avatar_email: app.avatarEmail)
    }

    static func secretContext(_ clientID: String) -> String { "oauth-application:\(clientID)" }

    struct NewApplication: Decodable {
        let name: String
        let redirect_uri: String?
        let application_uri: String?
        let description: String?
        let avatar_email: String?
    }

    struct UpdateApplication: Decodable {
        let name: String
        let redirect_uri: String
        let application_uri: String
        let description: String?
        let avatar_email: String?
    }

    func fields(name: String, redirectURI: String?, applicationURI: String?, description: String?,
                avatarEmail: String?) throws -> AccountStore.OAuthApplicationFields {
        let avatar = avatarEmail?.trimmingCharacters(in: .whitespaces)
        if let avatar, !avatar.isEmpty, !AccountAPI.isPlausibleEmail(avatar) {
            throw APIError.invalidRequest("Invalid avatar_email")
        }
        let description = description ?? ""
        guard description.count <= 4096 else { throw APIError.invalidRequest("description must be at most 4096 characters") }
        return .init(name: try Self.validLabel(name, field: "name"),
                     redirectURI: try Self.validURI(redirectURI ?? "", field: "redirect_uri"),
                     applicationURI: try Self.validURI(applicationURI ?? "", field: "application_uri"),
                     description: description, avatarEmail: avatar?.isEmpty == false ? avatar : nil)
    }

    func listApplications(_ r: APIRequest) async throws -> Response {
        let apps = try await services.accounts.oauthApplications(organizationID: r.organization!.id)
        return APIResponse.json(["applications": try apps.map(view)])
    }

    func createApplication(_ r: APIRequest) async throws -> Response {
        let org = r.organization!
        let input = try await r.decode(NewApplication.self)
        let fields = try fields(name: input.name, redirectURI: input.redirect_uri, applicationURI: input.application_uri,
                                description: input.description, avatarEmail: input.avatar_email)
        let secret = Self.randomCode(length: 40)
        var attempt = 0
        while true {
            let clientID = Self.randomCode(length: 20, alphabet: Self.upperAlphanumerics)
            do {
                let app = try await services.accounts.createOAuthApplication(
                    organizationID: org.id, clientID: clientID,
                    clientSecretSealed: try services.secretBox.seal(secret, context: Self.secretContext(clientID)), fields)
                r.context.logger.info("oauth application created", metadata: ["organization": "\(org.name)", "client_id": "\(clientID)"])
                return APIResponse.json(try view(app))
            } catch let e as DomainError where e.code == .alreadyExists && attempt < 3 {
                attempt += 1  // a client id collision: draw another
            }
        }
    }

    func existingApplication(_ r: APIRequest) async throws -> OAuthApplicationRecord {
        guard let app = try await services.accounts.oauthApplication(organizationID: r.organization!.id, clientID: r.parameter("client_id")) else {
            throw APIError.notFound("application not found")
        }
        return app
    }

    func application(_ r: APIRequest) async throws -> Response {
        APIResponse.json(try view(try await existingApplication(r)))
    }

    func updateApplication(_ r: APIRequest) async throws -> Response {
        let input = try await r.decode(UpdateApplication.self)
        let fields = try fields(name: input.name, redirectURI: input.redirect_uri, applicationURI: input.application_uri,
                                description: input.description, avatarEmail: input.avatar_email)
        guard let app = try await services.accounts.updateOAuthApplication(organizationID: r.organization!.id, clientID: r.parameter("client_id"),
                                                                        fields) else {
            throw APIError.notFound("application not found")
        }
        return APIResponse.json(try view(app))
    }

    func deleteApplication(_ r: APIRequest) async throws -> Response {
        let org = r.organization!
        guard try await services.accounts.deleteOAuthApplication(organizationID: org.id, clientID: r.parameter("client_id")) else {
            throw APIError.notFound("application not found")
        }
        r.context.logger.info("oauth application deleted", metadata: ["organization": "\(org.name)", "client_id": "\(r.parameter("client_id"))"])
        return APIResponse.noContent()
    }

    // MARK: OAuth access tokens

    struct NewOAuthToken: Decodable {
        let scope: String
        let name: String?
        /// Lifetime in seconds.
        let expiration: Int64?
    }

    struct OAuthTokenView: Encodable {
        let access_token: String
        let token_type = "Bearer"
        let uuid: String
        let name: String
        let scope: String
        let expires_at: String?
    }

    /// `repo:read user:read` (spaces or commas) → the known scopes, in order, without repeats.
    static func parseScopes(_ text: String) throws -> [String] {
        var scopes: [String] = []
        for part in text.split(whereSeparator: { $0 == " " || $0 == "," }) {
            let scope = String(part)
            guard APICaller.allScopes.contains(scope) else {
                throw APIError.invalidRequest("Unknown scope '\(scope.prefix(64))'; known scopes: \(APICaller.allScopes.sorted().joined(separator: ", "))")
            }
            if !scopes.contains(scope) { scopes.append(scope) }
        }
        guard !scopes.isEmpty else { throw APIError.invalidRequest("scope must name at least one scope") }
        return scopes
    }

    /// A caller hands out only scopes it holds itself (sessions hold them all).
    static func requireGrantable(_ scopes: [String], by caller: APICaller?) throws {
        guard let caller else { throw APIError.invalidToken }
        for scope in scopes {
            do {
                try caller.require(scope)
            } catch {
                throw APIError.insufficientScope("cannot hand out the \(scope) scope: the calling token lacks it")
            }
        }
    }

    func createOAuthToken(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        let app = try await existingApplication(r)
        let input = try await r.decode(NewOAuthToken.self)
        let scopes = try Self.parseScopes(input.scope)
        try Self.requireGrantable(scopes, by: r.caller)
        let lifetime = input.expiration ?? Self.defaultOAuthTokenLifetime
        guard lifetime > 0, lifetime <= Self.defaultOAuthTokenLifetime else {
            throw APIError.invalidRequest("expiration must be between 1 and \(Self.defaultOAuthTokenLifetime) seconds")
        }
        let name = try Self.validLabel(input.name ?? app.name, field: "name")
        let expiresAt = Clock.nowMillis() + lifetime * 1000
        let token = APITokens.generate()
        let uuid = try await services.accounts.createOAuthToken(applicationID: app.id, userID: user.id, tokenHash: APITokens.hash(token),
                                                             scopes: scopes, description: name, expiresAt: expiresAt)
        r.context.logger.info("oauth token issued", metadata: ["client_id": "\(app.clientID)", "user": "\(user.name)", "token.uuid": "\(uuid)"])
        return APIResponse.json(OAuthTokenView(access_token: token, uuid: uuid, name: name, scope: scopes.joined(separator: " "),
                                               expires_at: Self.date(expiresAt)))
    }

    func revokeOAuthToken(_ r: APIRequest) async throws -> Response {
        let app = try await existingApplication(r)
        guard try await services.accounts.deleteOAuthToken(applicationID: app.id, uuid: r.parameter("token_uuid")) else {
            throw APIError.notFound("token not found")
        }
        r.context.logger.info("oauth token revoked", metadata: ["client_id": "\(app.clientID)", "token.uuid": "\(r.parameter("token_uuid"))"])
        return APIResponse.noContent()
    }

    // MARK: Repository delegate tokens

    struct DelegateTokenView: Encodable {
        let uuid: String
        let friendlyName: String
        let role: String
        let created: String?
        /// Only in the creation answer.
        let code: String?

        init(_ t: RepositoryTokenRecord, code: String? = nil) {
            uuid = t.uuid
            friendlyName = t.friendlyName
            role = t.role.rawValue
            created = TokenAPI.date(t.createdAt)
            self.code = code
        }
    }

    struct NewDelegateToken: Decodable {
        let friendlyName: String
        let role: String?
    }

    struct DelegateRole: Decodable { let role: String }

    /// Delegate tokens read or write; administering a repository stays with people.
    static func delegateRole(_ text: String) throws -> Role {
        guard let role = Role(rawValue: text) else { throw APIError.invalidRequest("role must be read or write") }
        guard role != .admin else { throw APIError.invalidRequest("delegate tokens may read or write, not administer: use read or write") }
        return role
    }

    func listDelegateTokens(_ r: APIRequest) async throws -> Response {
        let tokens = try await services.accounts.repositoryTokens(repositoryID: r.repository!.id)
        return APIResponse.json(["tokens": Dictionary(uniqueKeysWithValues: tokens.map { ($0.uuid, DelegateTokenView($0)) })])
    }

    func createDelegateToken(_ r: APIRequest) async throws -> Response {
        let repo = r.repository!
        let input = try await r.decode(NewDelegateToken.self)
        let name = try Self.validLabel(input.friendlyName, field: "friendlyName")
        let role = try Self.delegateRole(input.role ?? Role.read.rawValue)
        let code = Self.randomCode(length: Self.delegateCodeLength)
        let token = try await services.accounts.createRepositoryToken(repositoryID: repo.id, codeHash: APITokens.hash(code), friendlyName: name, role: role)
        r.context.logger.info("delegate token created", metadata: ["repository": "\(repo.path)", "token.uuid": "\(token.uuid)", "role": "\(role.rawValue)"])
        return APIResponse.json(DelegateTokenView(token, code: code), status: .created)
    }

    func delegateToken(_ r: APIRequest) async throws -> Response {
        guard let token = try await services.accounts.repositoryToken(repositoryID: r.repository!.id, uuid: r.parameter("code_uuid")) else {
            throw APIError.notFound("token not found")
        }
        return APIResponse.json(DelegateTokenView(token))
    }

    func updateDelegateToken(_ r: APIRequest) async throws -> Response {
        let role = try Self.delegateRole(try await r.decode(DelegateRole.self).role)
        guard let token = try await services.accounts.setRepositoryTokenRole(repositoryID: r.repository!.id, uuid: r.parameter("code_uuid"), role: role) else {
            throw APIError.notFound("token not found")
        }
        return APIResponse.json(DelegateTokenView(token))
    }

    func deleteDelegateToken(_ r: APIRequest) async throws -> Response {
        let repo = r.repository!
        guard try await services.accounts.deleteRepositoryToken(repositoryID: repo.id, uuid: r.parameter("code_uuid")) else {
            throw APIError.notFound("token not found")
        }
        r.context.logger.info("delegate token deleted", metadata: ["repository": "\(repo.path)", "token.uuid": "\(r.parameter("code_uuid"))"])
        return APIResponse.noContent()
    }

    // MARK: Helpers

    static let alphanumerics = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
    static let upperAlphanumerics = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

    static func randomCode(length: Int, alphabet: [Character] = alphanumerics) -> String {
        var rng = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet[Int(rng.next(upperBound: UInt32(alphabet.count)))] })
    }

    /// A human label (title, name): trimmed, 1–255 characters, no control characters.
    static func validLabel(_ text: String, field: String) throws -> String {
        let label = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !label.isEmpty, label.count <= 255 else { throw APIError.invalidRequest("\(field) must be 1 to 255 characters") }
        guard !label.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw APIError.invalidRequest("\(field) must not contain control characters")
        }
        return label
    }

    /// Empty, or an absolute http(s) URL: anything else (`javascript:`, `data:`) could run in a
    /// browser that follows it.
    static func validURI(_ text: String, field: String) throws -> String {
        let uri = text.trimmingCharacters(in: .whitespaces)
        if uri.isEmpty { return uri }
        guard uri.count <= 2048, let url = URL(string: uri), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
              url.host?.isEmpty == false else {
            throw APIError.invalidRequest("\(field) must be an http or https URL")
        }
        return uri
    }

    /// Quay's `format_date` (RFC 2822), or nil for an unset date.
    static func date(_ millis: Int64?) -> String? {
        millis.map { APIDates.rfc2822(millis: $0) }
    }
}

extension RegistryServices {
    /// Registry sign-in with a token as the password (quay-reference §2.2): `$app` + app token →
    /// the user; `$oauthtoken` + API/OAuth access token → the user capped by the token's scopes;
    /// `$token` + delegate code → that one repository. Nil when the secret matches nothing (or has
    /// expired, or its user, application or repository was deleted).
    func authenticateTokenCredential(username: String, secret: String) async throws -> Identity? {
        guard !secret.isEmpty, secret.utf8.count <= 1024 else { return nil }
        let hash = APITokens.hash(secret)
        switch username {
        case "$app":
            return try await accounts.userForAppToken(hash: hash).map(Identity.user)
        case "$oauthtoken":
            guard let (user, scopes) = try await accounts.apiToken(hash: hash), user.kind == .user else { return nil }
            return .oauth(user, scopes: Set(scopes))
        case "$token":
            guard let token = try await accounts.repositoryToken(codeHash: hash) else { return nil }
            return .delegate(repositoryID: token.repositoryID, role: token.role, tokenUUID: token.uuid)
        default:
            return nil
        }
    }
}
