import Accounts
import Hummingbird
import Registry

/// `/organization/`: the viewer's organizations and Create Organization (`org.js` →
/// `POST /api/v1/organization/`).
struct OrganizationListPage {
    let server: PageServer

    struct Row {
        let name: String
        let url: String
        let role: String
        let isAdmin: Bool
    }

    struct Model {
        let rows: [Row]
        let hasRows: Bool
    }

    func register(_ router: Router<SlipwayRequestContext>) {
        server.get(router, "/organization/") { r in try await page(r) }
        server.get(router, "/organization/:org") { r in
            try await OrganizationPage(server: server).page(r, name: r.request.uri.path.split(separator: "/").last.map(String.init) ?? "")
        }
    }

    func page(_ r: PageRequest) async throws -> Page {
        let user = try r.requireUser()
        let accounts = server.services.accounts
        var rows: [Row] = []
        for org in try await accounts.organizations(ofUser: user.id) {
            let role = try await accounts.teamRole(userID: user.id, organizationID: org.id)
            rows.append(Row(name: org.name, url: OrganizationPage.url(org.name), role: role?.rawValue ?? "member", isAdmin: role == .admin))
        }
        return Page(title: "Organizations", template: "organization_list", model: Model(rows: rows, hasRows: !rows.isEmpty),
                    scripts: ["org.js"], nav: .organizations)
    }
}
