import Accounts
import Hummingbird
import Registry

/// `/superuser?tab=users|organizations|messages|status|logs`: the superuser panel. Only
/// superusers get it (everyone else gets the "not found" page, checked here on the server);
/// the buttons call the superuser and messages API through `superuser.js`.
struct SuperuserPage {
    let server: PageServer

    struct Tab {
        let name: String
        let label: String
        let url: String
        let current: Bool
    }

    struct UserRow {
        let name: String
        let email: String
        let enabled: Bool
        let superuser: Bool
        let isMe: Bool
    }

    struct OrgRow {
        let name: String
        let email: String
    }

    struct MessageRow {
        let uuid: String
        let severity: String
        let mediaType: String
        let content: String
    }

    struct Model {
        let tabs: [Tab]
        let users: [UserRow]?
        let organizations: [OrgRow]?
        let messages: [MessageRow]?
        let status: String?
        let logs: UsageLogsView?
        // Which section shows (an empty list still shows its section and its forms). Stored,
        // because Mustache reads stored properties only.
        let isUsers: Bool
        let isOrganizations: Bool
        let isMessages: Bool

        init(tabs: [Tab], users: [UserRow]? = nil, organizations: [OrgRow]? = nil, messages: [MessageRow]? = nil, status: String? = nil,
             logs: UsageLogsView? = nil) {
            self.tabs = tabs
            self.users = users
            self.organizations = organizations
            self.messages = messages
            self.status = status
            self.logs = logs
            isUsers = users != nil
            isOrganizations = organizations != nil
            isMessages = messages != nil
        }
    }

    static let tabs = [("users", "Users"), ("organizations", "Organizations"), ("messages", "Messages"), ("status", "Registry status"),
                       ("logs", "Usage logs")]

    func register(_ router: Router<SlipwayRequestContext>) {
        server.get(router, "/superuser") { r in try await page(r) }
    }

    static func url(tab: String) -> String { "/superuser?tab=" + tab }

    func page(_ r: PageRequest) async throws -> Page {
        let me = try r.requireUser()
        guard me.isSuperuser else { throw PageExit.notFound }
        let tab = r.query("tab") ?? "users"
        guard Self.tabs.contains(where: { $0.0 == tab }) else { throw PageExit.notFound }
        let tabs = Self.tabs.map { Tab(name: $0.0, label: $0.1, url: Self.url(tab: $0.0), current: $0.0 == tab) }
        let accounts = server.services.accounts
        let model: Model
        switch tab {
        case "organizations":
            model = Model(tabs: tabs, users: nil, organizations: try await accounts.allOrganizations().map { OrgRow(name: $0.name, email: $0.email ?? "") },
                          messages: nil, status: nil, logs: nil)
        case "messages":
            let rows = try await server.services.globalMessages.all().map {
                MessageRow(uuid: $0.uuid, severity: $0.severity.rawValue, mediaType: $0.mediaType.rawValue, content: $0.content)
            }
            model = Model(tabs: tabs, users: nil, organizations: nil, messages: rows, status: nil, logs: nil)
        case "status":
            model = Model(tabs: tabs, users: nil, organizations: nil, messages: nil, status: "ready", logs: nil)
        case "logs":
            let logs = try await UsageLogsView.make(scope: .everything, request: r, pageURL: Self.url(tab: "logs"), hidden: ["tab": "logs"],
                                                    apiBase: "/api/v1/superuser", server: server)
            model = Model(tabs: tabs, users: nil, organizations: nil, messages: nil, status: nil, logs: logs)
        default:
            let rows = try await accounts.administeredUsers().map {
                UserRow(name: $0.user.name, email: $0.user.email ?? "", enabled: $0.enabled, superuser: $0.user.isSuperuser, isMe: $0.user.id == me.id)
            }
            model = Model(tabs: tabs, users: rows, organizations: nil, messages: nil, status: nil, logs: nil)
        }
        return Page(title: "Superuser panel", template: "superuser", model: model, scripts: ["superuser.js", "logs.js"])
    }
}
