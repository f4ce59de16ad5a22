import Accounts
import Foundation
import Registry

/// The tabs of the organization page. Each reads with the account store functions the organization,
/// team, robot and prototype APIs use; `org.js` and `robots.js` make the changes through those
/// APIs.
struct OrganizationTabs {
    let server: PageServer
    let org: Namespace
    let viewer: Namespace
    let header: OrganizationPage.Header

    var accounts: AccountStore { server.services.accounts }

    struct RepoRow {
        let path: String
        let name: String
        let url: String
        let isPublic: Bool
        let description: String
    }

    /// Every repository of the namespace the viewer can see (for permission dialogs), capped.
    static func repositories(of namespace: String, viewer: Namespace, accounts: AccountStore, limit: Int = 1000) async throws -> [RepoRow] {
        try await accounts.listRepositories(scope: .namespace(namespace), userID: viewer.id, after: nil, limit: limit).map {
            RepoRow(path: $0.repository.path.description, name: $0.repository.name, url: RepositoryURL.page($0.repository.path),
                    isPublic: $0.repository.isPublic, description: $0.description)
        }
    }

    // MARK: Repositories

    struct RepositoriesModel {
        let header: OrganizationPage.Header
        let rows: [RepoRow]
        let hasRows: Bool
        let nextURL: String?
    }

    func repositories(_ r: PageRequest) async throws -> Page {
        let pageSize = 50
        let listed = try await accounts.listRepositories(scope: .namespace(org.name), userID: viewer.id, after: r.query("after"), limit: pageSize + 1)
        let rows = listed.prefix(pageSize).map {
            RepoRow(path: $0.repository.path.description, name: $0.repository.name, url: RepositoryURL.page($0.repository.path),
                    isPublic: $0.repository.isPublic, description: $0.description)
        }
        let next = listed.count > pageSize ? rows.last.map { OrganizationPage.url(org.name, tab: "repositories") + "&after=" + PageServer.queryEscape($0.path) } : nil
        return page("org_repositories", RepositoriesModel(header: header, rows: Array(rows), hasRows: !rows.isEmpty, nextURL: next))
    }

    // MARK: Teams and membership

    struct TeamRow {
        let name: String
        let description: String
        let memberCount: Int64
        let repositoryCount: Int64
        let roles: [Option]
        let role: String
        let canView: Bool
        /// Membership follows a provider group (team sync).
        let isSynced: Bool
    }

    struct Option {
        let value: String
        let label: String
        let selected: Bool
    }

    struct MemberRow {
        let name: String
        let isRobot: Bool
        let teams: String
    }

    struct CollaboratorRow {
        let name: String
        let repositories: String
    }

    struct TeamsModel {
        let header: OrganizationPage.Header
        let view: String
        let teamsView: Bool
        let membersView: Bool
        let collaboratorsView: Bool
        let teams: [TeamRow]
        let members: [MemberRow]
        let collaborators: [CollaboratorRow]
        let repos: [RepoRow]
        let isAdmin: Bool
        let viewURLs: [Option]
    }

    func teams(_ r: PageRequest) async throws -> Page {
        let view = ["members", "collaborators"].contains(r.query("view") ?? "") && header.isAdmin ? r.query("view")! : "teams"
        let mine = Set(try await accounts.orgTeams(ofAccount: viewer.id, organizationID: org.id).map(\.id))
        let synced = try await accounts.syncedTeamIDs(organizationID: org.id)
        let teams = try await accounts.orgTeamSummaries(organizationID: org.id).map { s in
            TeamRow(name: s.team.name, description: s.team.description, memberCount: s.memberCount, repositoryCount: s.repositoryCount,
                    roles: ["member", "creator", "admin"].map { Option(value: $0, label: $0, selected: $0 == s.team.role.rawValue) },
                    role: s.team.role.rawValue, canView: header.isAdmin || mine.contains(s.team.id), isSynced: synced.contains(s.team.id))
        }
        var members: [MemberRow] = []
        var collaborators: [CollaboratorRow] = []
        if header.isAdmin {
            let memberships = try await accounts.organizationMemberships(organizationID: org.id)
            members = memberships.map { MemberRow(name: $0.account.name, isRobot: $0.account.isRobot, teams: $0.teams.joined(separator: ", ")) }
            let memberIDs = Set(memberships.map(\.account.id))
            var byAccount: [String: [String]] = [:]
            for grant in try await accounts.directRepositoryGrants(organizationID: org.id) where !memberIDs.contains(grant.account.id) {
                byAccount[grant.account.name, default: []].append("\(grant.repository) (\(grant.role.rawValue))")
            }
            collaborators = byAccount.keys.sorted().map { CollaboratorRow(name: $0, repositories: byAccount[$0]!.joined(separator: ", ")) }
        }
        let base = OrganizationPage.url(org.name, tab: "teams")
        let model = TeamsModel(
            header: header, view: view, teamsView: view == "teams", membersView: view == "members", collaboratorsView: view == "collaborators",
            teams: teams, members: members, collaborators: collaborators,
            repos: header.isAdmin ? try await Self.repositories(of: org.name, viewer: viewer, accounts: accounts) : [], isAdmin: header.isAdmin,
            viewURLs: header.isAdmin ? [Option(value: base, label: "Team view", selected: view == "teams"),
                                        Option(value: base + "&view=members", label: "Members view", selected: view == "members"),
                                        Option(value: base + "&view=collaborators", label: "Collaborators view", selected: view == "collaborators")] : [])
        return page("org_teams", model, scripts: ["org.js"])
    }

    // MARK: Robots

    func robots(_ r: PageRequest) async throws -> Page {
        let panel = try await RobotsPanel.make(owner: org, apiBase: "/api/v1/organization/\(PageServer.pathEscape(org.name))/robots",
                                               viewer: viewer, isOrganization: true, request: r, services: server.services)
        struct Model { let header: OrganizationPage.Header; let robots: RobotsPanel }
        return page("org_robots", Model(header: header, robots: panel), scripts: ["robots.js"])
    }

    // MARK: Default permissions

    struct PrototypeRow {
        let uuid: String
        let creator: String
        let delegate: String
        let delegateKind: String
        let roles: [Option]
    }

    struct PrototypesModel {
        let header: OrganizationPage.Header
        let rows: [PrototypeRow]
        let hasRows: Bool
    }

    func defaultPermissions(_ r: PageRequest) async throws -> Page {
        let rows = try await accounts.prototypes(organizationID: org.id).map { p in
            let delegate = p.delegateTeam?.name ?? p.delegateUser?.name ?? "?"
            let kind = p.delegateTeam != nil ? "team" : (p.delegateUser?.isRobot == true ? "robot" : "user")
            return PrototypeRow(uuid: p.uuid, creator: p.activatingUser?.name ?? "Anyone", delegate: delegate, delegateKind: kind,
                                roles: Role.allCases.map { Option(value: $0.rawValue, label: $0.rawValue, selected: $0 == p.role) })
        }
        return page("org_prototypes", PrototypesModel(header: header, rows: rows, hasRows: !rows.isEmpty), scripts: ["org.js"])
    }

    // MARK: Settings

    struct SettingsModel {
        let header: OrganizationPage.Header
        let email: String
        let timeMachine: [Option]
    }

    static let timeMachineChoices: [(Int64, String)] = [(0, "A few seconds"), (86_400, "A day"), (604_800, "7 days"),
                                                         (1_209_600, "14 days"), (2_419_200, "A month")]

    static func timeMachineOptions(_ current: Int64) -> [Option] {
        timeMachineChoices.map { Option(value: String($0.0), label: $0.1, selected: $0.0 == current) }
    }

    func settings(_ r: PageRequest) async throws -> Page {
        let settings = try await accounts.organizationSettings(id: org.id)
        let model = SettingsModel(header: header, email: settings?.email ?? "", timeMachine: Self.timeMachineOptions(settings?.tagExpirationSeconds ?? 1_209_600))
        return page("org_settings", model, scripts: ["org.js"])
    }

    // MARK: Logs

    func logs(_ r: PageRequest) async throws -> Page {
        let logs = try await UsageLogsView.make(scope: .namespace(org.id), request: r, pageURL: OrganizationPage.url(org.name, tab: "logs"),
                                                hidden: ["tab": "logs"], apiBase: "/api/v1/organization/\(PageServer.pathEscape(org.name))",
                                                server: server)
        struct Model { let header: OrganizationPage.Header; let logs: UsageLogsView }
        return page("org_logs", Model(header: header, logs: logs), scripts: ["logs.js"])
    }

    func page(_ template: String, _ model: any Sendable, scripts: [String] = []) -> Page {
        Page(title: org.name, template: template, model: model, scripts: scripts, nav: .organizations)
    }
}
