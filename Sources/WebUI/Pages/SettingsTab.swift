import Accounts
import Registry

/// The repository Settings tab (admin): description, visibility, state, user/robot/team
/// permissions, events and notifications (`notifications.js`), and delete. Every change is made
/// by `settings.js` through the repository and permission endpoints of `/api/v1`.
struct SettingsTab {
    let server: PageServer

    struct Grant {
        let kind: String
        let name: String
        let isRobot: Bool
        let roles: [RoleOption]
    }

    struct RoleOption {
        let value: String
        let selected: Bool
    }

    struct Model {
        let header: RepositoryHeader
        let description: String
        let isPublic: Bool
        let isReadOnlyState: Bool
        let userGrants: [Grant]
        let teamGrants: [Grant]
        let hasGrants: Bool
        let isOrganization: Bool
    }

    func page(_ r: PageRequest, access: RepositoryAccess, header: RepositoryHeader) async throws -> Page {
        let repo = access.repository
        let accounts = server.services.accounts
        let users = try await accounts.repositoryUserGrants(repositoryID: repo.id).map { account, role in
            Grant(kind: "user", name: account.name, isRobot: account.kind == .robot, roles: Self.options(role))
        }
        let teams = try await accounts.repositoryTeamGrants(repositoryID: repo.id).map { team, role in
            Grant(kind: "team", name: team, isRobot: false, roles: Self.options(role))
        }
        let isOrg = try await accounts.namespace(id: repo.namespaceID)?.kind == .organization
        let model = Model(header: header, description: header.description, isPublic: repo.isPublic, isReadOnlyState: repo.state == .readOnly,
                          userGrants: users, teamGrants: teams, hasGrants: !(users.isEmpty && teams.isEmpty), isOrganization: isOrg)
        return Page(title: "\(repo.path) · settings", template: "tab_settings", model: model, scripts: ["settings.js", "notifications.js"],
                    nav: .repositories)
    }

    static func options(_ role: Role) -> [RoleOption] {
        Role.allCases.map { RoleOption(value: $0.rawValue, selected: $0 == role) }
    }
}
