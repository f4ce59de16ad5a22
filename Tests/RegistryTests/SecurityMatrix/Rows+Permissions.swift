import Accounts
import Foundation
import Registry
import SlipwayTestSupport
import Testing

/// Matrix rows for `PermissionAPI` (repository admin). On `acme/app` only orgadmin is admin;
/// member reads it through the readers team (403); everyone else cannot see the private
/// repository (404). On `admin/mine` the owner is admin and the `user:read` token is refused
/// (403). Writes target robots and teams made for the row, never the fixture's identities, so
/// their access stays as the other rows expect.
extension MatrixRows {
    static let permissions: [MatrixRow] = [
        MatrixRow(.get, "/api/v1/repository/{repository}/permissions/user/",
                  path: "/api/v1/repository/acme/app/permissions/user/", acmeAppAdmin(200)),
        MatrixRow(.get, "/api/v1/repository/{repository}/permissions/user/",
                  path: "/api/v1/repository/admin/mine/permissions/user/", adminMineAdmin(200)),
        // orgadmin holds admin on acme/app since its push created it.
        MatrixRow(.get, "/api/v1/repository/{repository}/permissions/user/{username}",
                  path: "/api/v1/repository/acme/app/permissions/user/orgadmin", acmeAppAdmin(200)),
        MatrixRow(.put, "/api/v1/repository/{repository}/permissions/user/{username}", acmeAppAdmin(200)) { f, _ in
            try await permissionRowRobot(f, owner: f.acme, "permbot")
            return ("/api/v1/repository/acme/app/permissions/user/acme+permbot", #"{"role":"read"}"#)
        },
        MatrixRow(.put, "/api/v1/repository/{repository}/permissions/user/{username}", adminMineAdmin(200)) { f, _ in
            try await permissionRowRobot(f, owner: f.users[.owner]!, "permbot")
            return ("/api/v1/repository/admin/mine/permissions/user/admin+permbot", #"{"role":"write"}"#)
        },
        MatrixRow(.delete, "/api/v1/repository/{repository}/permissions/user/{username}", acmeAppAdmin(204)) { f, who in
            let robot = try await permissionRowRobot(f, owner: f.acme, "pdel-\(permissionRowSlug(who))")
            let app = try await acmeApp(f)
            try await f.registry.services.accounts.setPermission(repositoryID: app.id, userID: robot.id, role: .read)
            return ("/api/v1/repository/acme/app/permissions/user/\(robot.name)", nil)
        },
        MatrixRow(.get, "/api/v1/repository/{repository}/permissions/user/{username}/transitive",
                  path: "/api/v1/repository/acme/app/permissions/user/orgadmin/transitive", acmeAppAdmin(200)),
        MatrixRow(.get, "/api/v1/repository/{repository}/permissions/team/",
                  path: "/api/v1/repository/acme/app/permissions/team/", acmeAppAdmin(200)),
        MatrixRow(.get, "/api/v1/repository/{repository}/permissions/team/{teamname}",
                  path: "/api/v1/repository/acme/app/permissions/team/readers", acmeAppAdmin(200)),
        // Re-states readers' existing role, so member's access is unchanged.
        MatrixRow(.put, "/api/v1/repository/{repository}/permissions/team/{teamname}",
                  path: "/api/v1/repository/acme/app/permissions/team/readers", body: #"{"role":"read"}"#, acmeAppAdmin(200)),
        MatrixRow(.delete, "/api/v1/repository/{repository}/permissions/team/{teamname}", acmeAppAdmin(204)) { f, who in
            let store = f.registry.services.store
            let accounts = f.registry.services.accounts
            let name = "pdel-\(permissionRowSlug(who))"
            let team = try await accounts.upsertTeam(organizationID: f.acme.id, name: name, role: .member)
            try await accounts.setTeamPermission(repositoryID: try await acmeApp(f).id, teamID: team, role: .read)
            return ("/api/v1/repository/acme/app/permissions/team/\(name)", nil)
        },
    ]
}

private func acmeAppAdmin(_ status: Int) -> [MatrixIdentity: Int] {
    expect(404, [.anonymous: 401, .orgAdmin: status, .member: 403])
}

private func adminMineAdmin(_ status: Int) -> [MatrixIdentity: Int] {
    expect(404, [.anonymous: 401, .owner: status, .narrowToken: 403])
}

private func permissionRowSlug(_ who: MatrixIdentity) -> String { who.rawValue.lowercased() }

private func acmeApp(_ f: MatrixFixture) async throws -> Repository {
    try #require(try await f.registry.services.accounts.repository(RepositoryPath(namespace: "acme", name: "app")))
}

@discardableResult
private func permissionRowRobot(_ f: MatrixFixture, owner: Namespace, _ short: String) async throws -> RobotAccount {
    let services = f.registry.services
    if let robot = try await services.accounts.robot(named: "\(owner.name)+\(short)", ownerID: owner.id) { return robot }
    return try await services.createRobot(owner: owner, shortName: short).0
}
