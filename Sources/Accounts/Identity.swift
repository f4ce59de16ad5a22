/// Who is calling. An app-specific token (`$app`) signs in as its user, so it is a `.user`.
public enum Identity: Sendable, Equatable {
    case anonymous
    case user(Namespace)
    /// A robot account (`<owner>+<short>`), signed in with its token.
    case robot(Namespace)
    /// A user through a scoped API/OAuth access token used as the registry password
    /// (`$oauthtoken`): the user's roles, capped by the token's `repo:*` scopes.
    case oauth(Namespace, scopes: Set<String>)
    /// A repository delegate token (`$token`): no user, only `role` (read or write) on one repository.
    case delegate(repositoryID: Int64, role: Role, tokenUUID: String)

    /// The namespace id that repository grants are keyed on (a robot's own id for robots).
    public var userID: Int64? {
        switch self {
        case .anonymous, .delegate: return nil
        case .user(let ns), .robot(let ns), .oauth(let ns, _): return ns.id
        }
    }

    /// The `sub` of registry tokens.
    public var subject: String {
        switch self {
        case .anonymous: return "(anonymous)"
        case .user(let ns), .robot(let ns), .oauth(let ns, _): return ns.name
        case .delegate(_, _, let uuid): return "$token:\(uuid)"
        }
    }

    /// The `context.entity_kind` of registry tokens (Quay's names). Never carries a secret.
    public var entityKind: String {
        switch self {
        case .anonymous: return "anonymous"
        case .user: return "user"
        case .robot: return "robot"
        case .oauth: return "oauthtoken"
        case .delegate: return "token"
        }
    }
}

/// An action in a registry token scope.
public enum RegistryAction: String, Sendable, Codable, Hashable, CaseIterable {
    case pull, push
    case delete = "*"
}
