import Accounts
import Registry

/// Who may see a repository page, decided with the same rules `APIRoutes` applies to
/// `/api/v1/repository/{repository}` routes: the repository must exist and not be marked for
/// deletion; the viewer's role comes from the access policy; public repositories are readable by
/// everyone. A private repository the viewer cannot read does not exist for them (404), and an
/// anonymous viewer is sent to sign in first.
struct RepositoryAccess: Sendable {
    let repository: Repository
    /// nil for readers of a public repository without a grant.
    let role: Role?

    var canWrite: Bool { role.map { $0 >= .write } ?? false }
    var canAdmin: Bool { role == .admin }

    static func resolve(_ path: RepositoryPath, viewer: Viewer, services: RegistryServices) async throws -> RepositoryAccess {
        guard let repo = try await services.accounts.repository(path), repo.state != .markedForDeletion else {
            throw viewer.user == nil ? PageExit.signIn : PageExit.notFound
        }
        var role: Role?
        if viewer.user != nil { role = try await services.policy.role(viewer.identity, on: repo) }
        guard role != nil || repo.isPublic else { throw viewer.user == nil ? PageExit.signIn : PageExit.notFound }
        return RepositoryAccess(repository: repo, role: role)
    }

    /// For tabs that need a role (settings and logs need admin, as their API routes do).
    func require(_ needed: Role, viewer: Viewer) throws(PageExit) {
        guard let role, role >= needed else { throw viewer.user == nil ? .signIn : .notFound }
    }
}
