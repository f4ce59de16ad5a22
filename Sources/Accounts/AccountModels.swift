import SlipwayCore

/// Account records read from the account store: namespaces (users, organizations, robots),
/// roles and repositories. Plain values: no behaviour beyond small helpers.

public enum NamespaceKind: String, Sendable, Codable {
    case user
    case organization
    /// A robot account `<owner>+<short>`: never signs in to the API, only to the registry.
    case robot
}

public struct Namespace: Sendable, Equatable {
    public let id: Int64
    public let name: String
    public let kind: NamespaceKind
    public let email: String?
    public let isSuperuser: Bool
}

/// Repository roles, ordered: admin ⊃ write ⊃ read.
public enum Role: String, Sendable, Codable, Comparable, CaseIterable {
    case read, write, admin

    private var rank: Int {
        switch self {
        case .read: return 0
        case .write: return 1
        case .admin: return 2
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }
}

/// Team roles inside an organization.
public enum TeamRole: String, Sendable, Codable {
    case member, creator, admin
}

public enum Visibility: String, Sendable, Codable {
    case `public`, `private`
}

public enum RepositoryState: String, Sendable, Codable {
    case normal = "NORMAL"
    case readOnly = "READ_ONLY"
    case markedForDeletion = "MARKED_FOR_DELETION"
}

public struct Repository: Sendable, Equatable {
    public let id: Int64
    public let namespaceID: Int64
    public let namespace: String
    public let name: String
    public let visibility: Visibility
    public let state: RepositoryState

    public var path: RepositoryPath { RepositoryPath(namespace: namespace, name: name) }
    public var isPublic: Bool { visibility == .public }
}
