import Accounts
import Foundation
import Registry

/// The robot accounts panel of an organization or a user namespace: list, create, credentials
/// (token on click, regenerate, Kubernetes Secret, `podman login`, docker config), repository
/// permissions in bulk, team membership and delete, all in `robots.js` through the robot API
/// at `apiBase`. Tokens are never rendered into the page: they are fetched when asked for.
struct RobotsPanel: Sendable {
    struct Row: Sendable {
        let name: String
        let shortName: String
        let description: String
        let teams: String
        let repositoryCount: Int
        let created: TimeView
        let lastAccessed: TimeView?
    }

    let owner: String
    let apiBase: String
    let isOrganization: Bool
    let registryHost: String
    /// `robots.js` adds `--tls-verify=false` to `podman login` (see `RegistryAddress`).
    let registryPlainHTTP: Bool
    let rows: [Row]
    let hasRows: Bool
    let repos: [OrganizationTabs.RepoRow]
    let teams: [String]

    static func make(owner: Namespace, apiBase: String, viewer: Namespace, isOrganization: Bool, request: PageRequest,
                     services: RegistryServices) async throws -> RobotsPanel {
        let accounts = services.accounts
        let repositories = try await accounts.robotRepositoryNames(ownerID: owner.id)
        let teams = isOrganization ? try await accounts.robotTeamNames(ownerID: owner.id) : [:]
        let rows = try await accounts.robots(ownerID: owner.id).map { robot in
            Row(name: robot.name, shortName: robot.shortName, description: robot.description, teams: (teams[robot.id] ?? []).joined(separator: ", "),
                repositoryCount: repositories[robot.id]?.count ?? 0, created: TimeView(millis: robot.createdAt),
                lastAccessed: TimeView(millis: robot.lastAccessed))
        }
        let orgTeams = isOrganization ? try await accounts.orgTeamSummaries(organizationID: owner.id).map(\.team.name) : []
        let registry = RegistryAddress(request: request.request, config: services.config)
        return RobotsPanel(owner: owner.name, apiBase: apiBase, isOrganization: isOrganization,
                           registryHost: registry.host, registryPlainHTTP: registry.plainHTTP,
                           rows: rows, hasRows: !rows.isEmpty,
                           repos: try await OrganizationTabs.repositories(of: owner.name, viewer: viewer, accounts: accounts), teams: orgTeams)
    }
}
