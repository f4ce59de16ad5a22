import Accounts
import Audit
import HTTPTypes
import Hummingbird

/// Who is calling a `/v2` data route, according to their bearer token.
struct V2Caller: Sendable {
    let claims: RegistryTokenClaims?
    /// The client's address, for usage logs written by handlers further down.
    var ip: String? = nil
    var userID: Int64? { claims?.context.entity_reference.flatMap { Int64($0) } }
    /// Delegate tokens carry no user id but are signed in all the same.
    var isAnonymous: Bool { userID == nil && claims?.context.entity_kind != "token" }

    /// The performer recorded in usage logs.
    var actor: AuditEvent.Actor? {
        guard let claims, claims.sub.value != "(anonymous)" else { return nil }
        return AuditEvent.Actor(id: userID, name: claims.sub.value, kind: claims.context.entity_kind)
    }

    func granted(name: String, path: RepositoryPath) -> Set<RegistryAction> {
        guard let claims else { return [] }
        var actions = claims.actions(for: name).union(claims.actions(for: path.description))
        // `*` is granted only to repository admins, who may also pull and push.
        if actions.contains(.delete) { actions.formUnion([.pull, .push]) }
        return actions
    }
}

/// Authenticates `/v2` requests (bearer tokens only, as Quay) and checks each route's permission.
struct V2Authorizer: Sendable {
    let services: RegistryServices

    /// `ip` is the client's address as the request context sees it; it travels with the caller
    /// so every usage log of the request (pushes, deletes, repositories created on push) has it.
    func authenticate(_ request: Request, origin: RequestOrigin, ip: String? = nil) async throws(RegistryError) -> V2Caller {
        guard let header = request.headers[.authorization] else { return V2Caller(claims: nil, ip: ip) }
        guard header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw unauthorized(origin, scope: nil, "registry requests need a bearer token from \(origin.baseURL)/v2/auth")
        }
        do {
            let claims = try await services.tokens.verify(String(header.dropFirst(7)), audience: origin.service)
            guard try await services.liveness.isAlive(claims) else {
                throw unauthorized(origin, scope: nil, "the account or token behind this bearer token no longer exists")
            }
            return V2Caller(claims: claims, ip: ip)
        } catch let error as RegistryError {
            throw error
        } catch {
            throw unauthorized(origin, scope: nil, "the bearer token is invalid or expired")
        }
    }

    func unauthorized(_ origin: RequestOrigin, scope: String?, _ message: String) -> RegistryError {
        RegistryError(.unauthorized, message, headers: [.wwwAuthenticate: origin.challenge(scope: scope)])
    }

    /// Checks `action` on the route's repository and returns it. Push on a repository that does
    /// not exist yet creates it, private, in the caller's namespace when the token allows it.
    func repository(for action: RegistryAction, name: String, path: RepositoryPath, caller: V2Caller,
                    origin: RequestOrigin) async throws -> Repository {
        let granted = caller.granted(name: name, path: path)
        let scopeActions = action == .pull ? "pull" : (action == .push ? "pull,push" : "*")
        let scope = "repository:\(name):\(scopeActions)"
        if granted.contains(action) {
            if let repo = try await services.accounts.repository(path) {
                if repo.state == .markedForDeletion { throw RegistryError(.nameUnknown, "repository \(path) is being deleted") }
                return repo
            }
            if action == .push { return try await autoCreate(path: path, caller: caller) }
            throw RegistryError(.nameUnknown, "repository \(path) not found")
        }
        if action == .pull, let repo = try await services.accounts.repository(path), repo.state != .markedForDeletion,
           repo.isPublic, services.config.registry.anonymousAccess || !caller.isAnonymous {
            return repo
        }
        if caller.isAnonymous {
            throw unauthorized(origin, scope: scope, "authentication required")
        }
        throw denied(origin, scope: scope, action: action, path: path)
    }

    /// A signed-in caller whose token lacks the access. As distribution and Docker Hub answer:
    /// 401 whose challenge carries `error="insufficient_scope"` (RFC 6750 §3.1), so clients
    /// report that access was denied (podman: "denied: requested access to the resource is
    /// denied: ...") instead of suggesting a login; the body says the same with DENIED. The
    /// challenge alone reaches the client on HEAD requests, which have no body.
    func denied(_ origin: RequestOrigin, scope: String, action: RegistryAction, path: RepositoryPath) -> RegistryError {
        let what: String
        switch action {
        case .pull: what = "read"
        case .push: what = "push to"
        case .delete: what = "delete from"
        }
        // Repository paths are [a-z0-9._/-]: nothing to escape in the quoted header value.
        let message = "requested access to the resource is denied: you may not \(what) \(path)"
        return RegistryError(.denied, message, status: .unauthorized,
                             headers: [.wwwAuthenticate: origin.challenge(scope: scope, error: ("insufficient_scope", message))])
    }

    private func autoCreate(path: RepositoryPath, caller: V2Caller) async throws -> Repository {
        guard let namespace = try await services.accounts.namespace(named: path.namespace) else {
            throw RegistryError(.nameUnknown, "namespace '\(path.namespace)' does not exist")
        }
        let (repo, created) = try await services.accounts.createRepository(namespaceID: namespace.id, name: path.name, visibility: .private)
        if created {
            services.logger.info("repository created on push", metadata: ["repository": "\(path)"])
            try await RepositoryCreation.afterCreate(repo, namespace: namespace, creatorID: caller.userID, services: services)
            services.auditLog.record(.repository(.createRepo, repo, performer: caller.actor, ip: caller.ip))
        }
        return repo
    }

    /// Pushes and deletes are refused in maintenance mode and on read-only repositories.
    func requireWritable(_ repo: Repository) throws(RegistryError) {
        if services.config.registry.readOnly { throw RegistryError.readOnly }
        if repo.state == .readOnly {
            throw RegistryError(.denied, "repository \(repo.path) is read-only", status: .methodNotAllowed)
        }
    }
}
