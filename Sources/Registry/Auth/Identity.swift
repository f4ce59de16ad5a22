/// Who is calling. Robots, app tokens and delegate tokens join in the accounts issue.
public enum Identity: Sendable, Equatable {
    case anonymous
    case user(Namespace)

    public var userID: Int64? {
        if case .user(let ns) = self { return ns.id }
        return nil
    }

    /// The `sub` of registry tokens.
    public var subject: String {
        switch self {
        case .anonymous: return "(anonymous)"
        case .user(let ns): return ns.name
        }
    }
}

/// An action in a registry token scope.
public enum RegistryAction: String, Sendable, Codable, Hashable, CaseIterable {
    case pull, push
    case delete = "*"
}
