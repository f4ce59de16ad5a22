import Accounts
import Audit
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /v2/auth`: the Docker token endpoint. Basic credentials identify the caller; each
/// requested scope is answered with the actions the caller actually has (denied ones are dropped).
extension V2Handler {
    struct TokenResponse: Encodable {
        let token: String
        let access_token: String
        let expires_in: Int
        let issued_at: String
    }

    func token(_ request: Request, origin: RequestOrigin, context: some RequestContext) async throws -> Response {
        let ip = (context as? SlipwayRequestContext)?.clientIP(request)
        let userAgent = request.headers[.userAgent]
        let identity: Identity
        do {
            identity = try await identityFromBasic(request, origin: origin)
        } catch let error as RegistryError {
            await recordFailedLogin(request, message: error.message, ip: ip, userAgent: userAgent)
            throw error
        }
        var scopes: [TokenScope] = []
        for value in request.uri.queryParameters.getAll("scope") {
            // One parameter may carry several space-separated scopes (Docker token spec); some
            // clients leave the space form-encoded as '+', which no scope can otherwise contain.
            for part in value.split(whereSeparator: { $0 == " " || $0 == "+" }) {
                scopes.append(try TokenScope(parsing: String(part), serviceHost: origin.service))
            }
        }
        // `podman login` asks for a token without a scope: that is the login worth recording.
        if scopes.isEmpty, identity != .anonymous {
            services.auditLog.record(.loginSuccess(AuditEvent.Actor(id: identity.userID, name: identity.subject, kind: identity.entityKind),
                                                via: .registry, ip: ip, userAgent: userAgent))
        }
        if identity == .anonymous && scopes.isEmpty {
            throw RegistryError(.unauthorized, "credentials are required to log in",
                                headers: [.wwwAuthenticate: "Basic realm=\"\(origin.baseURL)/v2/auth\""])
        }
        var access: [RegistryTokenClaims.Access] = []
        for scope in scopes {
            switch scope {
            case .catalog:
                if identity != .anonymous { access.append(.init(type: "registry", name: "catalog", actions: ["*"])) }
            case .repository(let name, let path, let actions):
                let granted = try await services.policy.grantedActions(identity, on: path, requested: actions)
                access.append(.init(type: "repository", name: name, actions: RegistryAction.allCases.filter(granted.contains).map(\.rawValue)))
            }
        }
        let issued = try await services.tokens.issue(identity: identity, audience: origin.service, access: access)
        context.logger.debug("issued registry token", metadata: ["subject": "\(identity.subject)", "scopes": "\(access.count)"])
        let body = TokenResponse(token: issued.token, access_token: issued.token, expires_in: issued.expiresIn,
                                 issued_at: ISO8601DateFormatter().string(from: issued.issuedAt))
        return jsonResponse(Self.encodeJSON(body))
    }

    /// `login_failure` for refused registry credentials (`podman login` with a wrong password or
    /// token), under the account the name belongs to when it is a user's.
    private func recordFailedLogin(_ request: Request, message: String, ip: String?, userAgent: String?) async {
        guard let header = request.headers[.authorization], header.count > 6, header.prefix(6).lowercased() == "basic ",
              let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
              let text = String(data: decoded, encoding: .utf8) else { return }
        let username = String(text.prefix { $0 != ":" })
        let kind = username.contains("+") ? "robot" : username.hasPrefix("$") ? "token" : "user"
        let named = kind == "user" ? try? await services.accounts.namespace(named: username) : nil
        let account = named?.kind == .user ? named : nil
        services.auditLog.record(.loginFailure(username: username, account: account, via: .registry, kind: kind, message: message,
                                            ip: ip, userAgent: userAgent))
    }

    /// Resolves Basic credentials to an identity. Wrong credentials are a 401, never a silent
    /// downgrade to anonymous.
    func identityFromBasic(_ request: Request, origin: RequestOrigin) async throws -> Identity {
        guard let header = request.headers[.authorization] else { return .anonymous }
        guard header.count > 6, header.prefix(6).lowercased() == "basic ",
              let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
              let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":") else {
            throw RegistryError(.unauthorized, "malformed Basic credentials")
        }
        let username = String(text[..<colon])
        let password = String(text[text.index(after: colon)...])
        let challenge: HTTPFields = [.wwwAuthenticate: "Basic realm=\"\(origin.baseURL)/v2/auth\""]
        // Robots sign in as `<owner>+<short>` with their token; no user name contains '+'.
        if username.contains("+") {
            if services.config.auth.robotsDisallow {
                throw RegistryError(.unauthorized, RobotAPI.disabledMessage, headers: challenge)
            }
            if let robot = try await services.authenticateRobot(name: username, token: password) {
                return .robot(robot.namespace)
            }
            throw RegistryError(.unauthorized, "invalid username or password", headers: challenge)
        }
        // `$app`, `$oauthtoken` and `$token` take a token as the password; no user name starts with '$'.
        if username.hasPrefix("$") {
            if let identity = try await services.authenticateTokenCredential(username: username, secret: password) { return identity }
            throw RegistryError(.unauthorized, "invalid username or password", headers: challenge)
        }
        if let (user, hash) = try await services.accounts.passwordHash(user: username),
           try await services.hasher.verify(password, hash: hash) {
            return .user(user)
        }
        throw RegistryError(.unauthorized, "invalid username or password",
                            headers: [.wwwAuthenticate: "Basic realm=\"\(origin.baseURL)/v2/auth\""])
    }
}
