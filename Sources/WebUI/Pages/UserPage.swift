import Accounts
import Hummingbird
import Registry

/// `/user/<name>?tab=settings|robots|tokens|logs`: the signed-in user's own account (e-mail,
/// password, time machine, delete), robot accounts of the user namespace, app tokens and usage
/// logs. Someone else's name shows their repositories instead, as their profile.
struct UserPage {
    let server: PageServer

    struct Tab {
        let name: String
        let label: String
        let url: String
        let current: Bool
    }

    struct Header {
        let name: String
        let tab: String
        let tabs: [Tab]
    }

    struct TokenRow {
        let uuid: String
        let title: String
        let created: TimeView
        let lastAccessed: TimeView?
    }

    /// One configured sign-on provider on the settings page: linked (with the provider's
    /// subject) or a "Link" button.
    struct LoginRow {
        let provider: String
        let subject: String?
        let linkURL: String
    }

    struct SettingsModel {
        let header: Header
        let email: String
        let timeMachine: [OrganizationTabs.Option]
        let logins: [LoginRow]
        let hasProviders: Bool
    }

    struct TokensModel {
        let header: Header
        let rows: [TokenRow]
        let hasRows: Bool
    }

    func register(_ router: Router<SlipwayRequestContext>) {
        server.get(router, "/user/:name") { r in
            try await page(r, name: r.request.uri.path.split(separator: "/").last.map(String.init) ?? "")
        }
    }

    static func url(_ name: String, tab: String) -> String { "/user/" + PageServer.pathEscape(name) + "?tab=" + tab }

    func page(_ r: PageRequest, name: String) async throws -> Page {
        let user = try r.requireUser()
        guard user.name == name else { throw PageExit.redirect("/repository/?namespace=" + PageServer.queryEscape(name)) }
        let accounts = server.services.accounts
        let names = [("settings", "Account settings"), ("robots", "Robot accounts"), ("tokens", "App tokens"), ("logs", "Usage logs")]
        let tab = r.query("tab") ?? "settings"
        guard names.contains(where: { $0.0 == tab }) else { throw PageExit.notFound }
        let header = Header(name: user.name, tab: tab,
                            tabs: names.map { Tab(name: $0.0, label: $0.1, url: Self.url(user.name, tab: $0.0), current: $0.0 == tab) })
        switch tab {
        case "robots":
            let panel = try await RobotsPanel.make(owner: user, apiBase: "/api/v1/user/robots", viewer: user, isOrganization: false,
                                                   request: r, services: server.services)
            struct Model { let header: Header; let robots: RobotsPanel }
            return Page(title: "Robot accounts", template: "user_robots", model: Model(header: header, robots: panel), scripts: ["robots.js"])
        case "tokens":
            let rows = try await accounts.appTokens(userID: user.id).map {
                TokenRow(uuid: $0.uuid, title: $0.title, created: TimeView(millis: $0.createdAt), lastAccessed: TimeView(millis: $0.lastAccessed))
            }
            return Page(title: "App tokens", template: "user_tokens", model: TokensModel(header: header, rows: rows, hasRows: !rows.isEmpty),
                        scripts: ["user.js"])
        case "logs":
            let logs = try await UsageLogsView.make(scope: .performer(user.id), request: r, pageURL: Self.url(user.name, tab: "logs"),
                                                    hidden: ["tab": "logs"], apiBase: "/api/v1/user", server: server)
            struct Model { let header: Header; let logs: UsageLogsView }
            return Page(title: "Usage logs", template: "user_logs", model: Model(header: header, logs: logs), scripts: ["logs.js"])
        default:
            let seconds = try await accounts.userTagExpirationSeconds(userID: user.id)
            let linked = try await accounts.externalLogins(userID: user.id)
            let logins = server.services.config.auth.oidc.map { provider in
                LoginRow(provider: provider.name, subject: linked.first { $0.issuer == provider.issuer }?.subject,
                         linkURL: "/signin/oidc/\(provider.name)/link?csrf_token=" + PageServer.queryEscape(r.viewer.csrfToken))
            }
            let model = SettingsModel(header: header, email: user.email ?? "", timeMachine: OrganizationTabs.timeMachineOptions(seconds),
                                      logins: logins, hasProviders: !logins.isEmpty)
            return Page(title: "Account settings", template: "user_settings", model: model, scripts: ["user.js"])
        }
    }
}
