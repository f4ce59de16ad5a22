import Accounts
import Foundation
import Registry

/// `/organization/<org>?tab=repositories|teams|robots|defaultpermissions|settings|logs`.
/// Signed-in users who are not members see the repositories they may read, as the API shows
/// them the organization's name only; members see teams; admins see everything. Tabs a viewer
/// may not use are "not found", like their API routes.
struct OrganizationPage {
    let server: PageServer

    struct Tab {
        let name: String
        let label: String
        let url: String
        let current: Bool
    }

    struct Header {
        let name: String
        let url: String
        let isAdmin: Bool
        let isMember: Bool
        let tab: String
        let tabs: [Tab]
    }

    static func url(_ org: String, tab: String? = nil) -> String {
        "/organization/" + PageServer.pathEscape(org) + (tab.map { "?tab=" + $0 } ?? "")
    }

    func page(_ r: PageRequest, name: String) async throws -> Page {
        let user = try r.requireUser()
        let accounts = server.services.accounts
        guard let org = try await accounts.namespace(named: name), org.kind == .organization else { throw PageExit.notFound }
        let role = try await accounts.teamRole(userID: user.id, organizationID: org.id)
        let isAdmin = role == .admin
        var names: [(String, String)] = [("repositories", "Repositories")]
        if role != nil { names.append(("teams", "Teams and membership")) }
        if isAdmin { names += [("robots", "Robot accounts"), ("defaultpermissions", "Default permissions"), ("settings", "Settings"), ("logs", "Logs")] }
        let requested = r.query("tab") ?? "repositories"
        guard names.contains(where: { $0.0 == requested }) else { throw PageExit.notFound }
        let header = Header(name: org.name, url: Self.url(org.name), isAdmin: isAdmin, isMember: role != nil, tab: requested,
                            tabs: names.map { Tab(name: $0.0, label: $0.1, url: Self.url(org.name, tab: $0.0), current: $0.0 == requested) })
        let tabs = OrganizationTabs(server: server, org: org, viewer: user, header: header)
        switch requested {
        case "teams": return try await tabs.teams(r)
        case "robots": return try await tabs.robots(r)
        case "defaultpermissions": return try await tabs.defaultPermissions(r)
        case "settings": return try await tabs.settings(r)
        case "logs": return try await tabs.logs(r)
        default: return try await tabs.repositories(r)
        }
    }
}
