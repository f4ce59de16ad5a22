/// Decides what an identity may do on a repository. One place for the rules so the token
/// endpoint, the data routes and (later) the API agree.
public struct AccessPolicy: Sendable {
    public let store: MetadataStore
    public let anonymousAccess: Bool

    public init(store: MetadataStore, anonymousAccess: Bool) {
        self.store = store
        self.anonymousAccess = anonymousAccess
    }

    /// The identity's role on an existing repository (nil = no explicit access).
    public func role(_ identity: Identity, on repository: Repository) async throws -> Role? {
        guard let userID = identity.userID else { return nil }
        return try await store.role(userID: userID, repository: repository)
    }

    public func canRead(_ identity: Identity, _ repository: Repository) async throws -> Bool {
        if repository.isPublic && (anonymousAccess || identity != .anonymous) { return true }
        return try await role(identity, on: repository) != nil
    }

    /// May the identity create repositories in `namespace`? Users in their own namespace; in an
    /// organization, members of a team with the creator or admin role.
    public func canCreate(_ identity: Identity, inNamespace namespace: String) async throws -> Bool {
        guard case .user(let user) = identity, let ns = try await store.namespace(named: namespace) else { return false }
        switch ns.kind {
        case .user:
            return ns.id == user.id
        case .organization:
            let teamRole = try await store.teamRole(userID: user.id, organizationID: ns.id)
            return teamRole == .admin || teamRole == .creator
        }
    }

    /// The subset of `requested` actions granted on `path`. Denied actions are dropped silently
    /// (down-scoping), as the token protocol expects.
    public func grantedActions(_ identity: Identity, on path: RepositoryPath, requested: Set<RegistryAction>) async throws -> Set<RegistryAction> {
        if let repository = try await store.repository(path) {
            guard repository.state != .markedForDeletion else { return [] }
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
            return requested
        }
        return []
    }
}
