import Accounts

/// What a `/api/v1` route needs from its caller. Every route declares one when it is registered
/// (`APIRoutes.add`); `APIRoutes` enforces it before the handler runs, so handlers receive an
/// already-authorized caller, repository or organization. The security-matrix test proves each
/// route × identity gets exactly the status this implies.
public enum APIRequirement: Sendable, Equatable, CustomStringConvertible {
    /// Anyone, signed in or not.
    case anonymous
    /// A signed-in user (robots are not API callers) whose token carries `scope`.
    case user(scope: String)
    /// A role on the repository named in the path (`{repository}` = `namespace/name`), capped by
    /// the matching `repo:*` scope. Public repositories satisfy `read` for everyone.
    case repository(Role)
    /// Admin of the organization named by `{orgname}` (token scope `org:admin`).
    case organizationAdmin
    /// Any member of the organization named by `{orgname}` (token scope `user:read`).
    case organizationMember
    /// A superuser (`auth.superUsers`) whose token carries `user:admin` (or Quay's `super:user`).
    case superuser

    public var description: String {
        switch self {
        case .anonymous: return "anonymous"
        case .user(let scope): return "signed in with \(scope)"
        case .repository(let role): return "repository \(role.rawValue)"
        case .organizationAdmin: return "organization admin"
        case .organizationMember: return "organization member"
        case .superuser: return "superuser"
        }
    }

    /// The OAuth scope that caps this requirement.
    var scope: String? {
        switch self {
        case .anonymous: return nil
        case .user(let scope): return scope
        case .repository(let role):
            switch role {
            case .read: return "repo:read"
            case .write: return "repo:write"
            case .admin: return "repo:admin"
            }
        case .organizationAdmin: return "org:admin"
        case .organizationMember: return "user:read"
        case .superuser: return "user:admin"
        }
    }
}
