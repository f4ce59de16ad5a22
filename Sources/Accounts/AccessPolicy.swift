/// Decides what an identity may do on a repository or in an organization. One place for the
/// rules, so the token endpoint, the `/v2` routes, the `/api/v1` routes and the pages agree.
public struct AccessPolicy: Sendable {
    public let accounts: AccountStore
    public let anonymousAccess: Bool

    public init(accounts: AccountStore, anonymousAccess: Bool) {
        self.accounts = accounts
        self.anonymousAccess = anonymousAccess
    }

    /// The identity's role on an existing repository (nil = no explicit access).
    public func role(_ identity: Identity, on repository: Repository) async throws -> Role? {
        switch identity {
        case .delegate(let repositoryID, let role, _):
            // A delegate token knows one repository and never administers it.
            return repository.id == repositoryID ? min(role, .write) : nil
        case .oauth(let user, let scopes):
            guard let cap = Self.roleCap(scopes), let role = try await accounts.role(userID: user.id, repository: repository) else { return nil }
            return min(role, cap)
        default:
            guard let userID = identity.userID else { return nil }
            return try await accounts.role(userID: userID, repository: repository)
        }
    }

    /// The identity's role in the teams of organization `organizationID` (nil = not a member).
    /// Robots and scoped tokens are judged as their namespace; scopes are the caller's to check.
    public func organizationRole(_ identity: Identity, organizationID: Int64) async throws -> TeamRole? {
        guard let userID = identity.userID else { return nil }
        return try await accounts.teamRole(userID: userID, organizationID: organizationID)
    }

    /// The strongest repository role a scoped token allows (scopes cap roles, never grant them).
    static func roleCap(_ scopes: Set<String>) -> Role? {
        if scopes.contains("repo:admin") || scopes.contains("super:user") { return .admin }
        if scopes.contains("repo:write") { return .write }
        if scopes.contains("repo:read") { return .read }
        return nil
    }

    public func canRead(_ identity: Identity, _ repository: Repository) async throws -> Bool {
        if repository.isPublic && (anonymousAccess || identity != .anonymous) { return true }
        return try await role(identity, on: repository) != nil
    }

    /// May the identity create repositories in `namespace`? Users in their own namespace; in an
    /// organization, members of a team with the creator or admin role. Robots only through such
    /// a team of the organization that owns them (as Quay), never in a user namespace.
    public func canCreate(_ identity: Identity, inNamespace namespace: String) async throws -> Bool {
        let caller: Namespace
        switch identity {
        case .anonymous, .delegate: return false
        case .user(let user): caller = user
        case .oauth(let user, let scopes):
            guard scopes.contains("repo:create") || scopes.contains("super:user") else { return false }
            caller = user
        case .robot(let robot):
            guard robot.name.hasPrefix(namespace + "+") else { return false }
            caller = robot
        }
        guard let ns = try await accounts.namespace(named: namespace) else { return false }
        switch ns.kind {
        case .user:
            if case .robot = identity { return false }
            return ns.id == caller.id
        case .organization:
            let teamRole = try await organizationRole(identity, organizationID: ns.id)
            return teamRole == .admin || teamRole == .creator
        case .robot:
            return false
        }
    }

    /// The person behind a user credential (password, app token, OAuth token); robots and
    /// delegate tokens have their own grants.
    static func personID(_ identity: Identity) -> Int64? {
        switch identity {
        case .user(let ns), .oauth(let ns, _): return ns.id
        default: return nil
        }
    }

    /// The subset of `requested` actions granted on `path`. Denied actions are dropped silently
    /// (down-scoping), as the token protocol expects.
    public func grantedActions(_ identity: Identity, on path: RepositoryPath, requested: Set<RegistryAction>) async throws -> Set<RegistryAction> {
        var requested = requested
        // A self-created account whose e-mail address is not confirmed yet reads but does not
        // write (`auth.mailVerification`).
        if !requested.isDisjoint(with: [.push, .delete]), let userID = Self.personID(identity),
           try await !accounts.isEmailVerified(userID: userID) {
            requested.subtract([.push, .delete])
        }
        if let repository = try await accounts.repository(path) {
            guard repository.state != .markedForDeletion else { return [] }
            // A delegate token's JWT names its one repository and nothing else, public or not.
            if case .delegate(let repositoryID, _, _) = identity, repository.id != repositoryID { return [] }
            let role = try await role(identity, on: repository)
            var granted = Set<RegistryAction>()
            for action in requested {
                switch action {
                case .pull:
                    if role != nil || (repository.isPublic && (anonymousAccess || identity != .anonymous)) { granted.insert(.pull) }
                case .push:
                    if let role, role >= .write { granted.insert(.push) }
                case .delete:
                    if role == .admin { granted.insert(.delete) }
                }
            }
            return granted
        }
        // The repository does not exist: whoever may create it gets everything they asked for,
        // and the first push creates it (private).
        if try await canCreate(identity, inNamespace: path.namespace) {
            if case .oauth(_, let scopes) = identity {
                // The creator becomes admin, but a scoped token still only gets what its scopes allow.
                let cap = Self.roleCap(scopes)
                return requested.filter { action in
                    switch action {
                    case .pull: return cap != nil
                    case .push: return cap.map { $0 >= .write } ?? false
                    case .delete: return cap == .admin
                    }
                }
            }
            return requested
        }
        return []
    }
}
