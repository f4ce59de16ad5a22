import Accounts
import Foundation
import Registry
import SlipwayTestSupport
import Testing

/// Matrix rows for `RobotAPI`. User robot routes act on the caller's own namespace, so every
/// signed-in identity with `user:admin` succeeds on its own robots (and gets a 404 for another
/// user's robot); organization robot routes need admin of `acme`. Rows that delete work on a
/// fresh robot per identity.
extension MatrixRows {
    static let robots: [MatrixRow] = [
        // User robots: own namespace; user:admin scope.
        MatrixRow(.get, "/api/v1/user/robots", path: "/api/v1/user/robots", userAdminScope(200)),
        MatrixRow(.get, "/api/v1/user/robots/{robot_shortname}", userAdminScope(200)) { f, who in
            try await ensureUserRobot(f, who, "matrix")
            return ("/api/v1/user/robots/matrix", nil)
        },
        // Another user's robot does not exist for anyone but its owner.
        MatrixRow(.get, "/api/v1/user/robots/{robot_shortname}", userAdminScope(404, [.owner: 200])) { f, _ in
            try await ensureUserRobot(f, .owner, "owner-only")
            return ("/api/v1/user/robots/owner-only", nil)
        },
        MatrixRow(.put, "/api/v1/user/robots/{robot_shortname}", userAdminScope(201)) { _, who in
            ("/api/v1/user/robots/new-\(robotRowSlug(who))", #"{"description":"matrix"}"#)
        },
        MatrixRow(.delete, "/api/v1/user/robots/{robot_shortname}", userAdminScope(204)) { f, who in
            try await ensureUserRobot(f, who, "del-\(robotRowSlug(who))")
            return ("/api/v1/user/robots/del-\(robotRowSlug(who))", nil)
        },
        MatrixRow(.delete, "/api/v1/user/robots/{robot_shortname}", userAdminScope(404, [.owner: 204])) { f, who in
            try await ensureUserRobot(f, .owner, "owner-del-\(robotRowSlug(who))")
            return ("/api/v1/user/robots/owner-del-\(robotRowSlug(who))", nil)
        },
        MatrixRow(.post, "/api/v1/user/robots/{robot_shortname}/regenerate", userAdminScope(200)) { f, who in
            try await ensureUserRobot(f, who, "matrix")
            return ("/api/v1/user/robots/matrix/regenerate", nil)
        },
        MatrixRow(.get, "/api/v1/user/robots/{robot_shortname}/permissions", userAdminScope(200)) { f, who in
            try await ensureUserRobot(f, who, "matrix")
            return ("/api/v1/user/robots/matrix/permissions", nil)
        },
        MatrixRow(.put, "/api/v1/user/robots/{robot_shortname}/permissions", userAdminScope(200)) { f, who in
            try await ensureUserRobot(f, who, "matrix")
            return ("/api/v1/user/robots/matrix/permissions", #"{"permissions":[]}"#)
        },

        // Robot federation (keyless robots): same rules as the robot itself.
        MatrixRow(.get, "/api/v1/user/robots/{robot_shortname}/federation", userAdminScope(200)) { f, who in
            try await ensureUserRobot(f, who, "matrix")
            return ("/api/v1/user/robots/matrix/federation", nil)
        },
        MatrixRow(.get, "/api/v1/user/robots/{robot_shortname}/federation", userAdminScope(404, [.owner: 200])) { f, _ in
            try await ensureUserRobot(f, .owner, "owner-only")
            return ("/api/v1/user/robots/owner-only/federation", nil)
        },
        MatrixRow(.post, "/api/v1/user/robots/{robot_shortname}/federation", userAdminScope(200)) { f, who in
            try await ensureUserRobot(f, who, "matrix")
            return ("/api/v1/user/robots/matrix/federation", federationBody)
        },
        MatrixRow(.delete, "/api/v1/user/robots/{robot_shortname}/federation", userAdminScope(204)) { f, who in
            try await ensureUserRobot(f, who, "matrix")
            return ("/api/v1/user/robots/matrix/federation", nil)
        },
        MatrixRow(.delete, "/api/v1/user/robots/{robot_shortname}/federation", userAdminScope(404, [.owner: 204])) { f, _ in
            try await ensureUserRobot(f, .owner, "owner-only")
            return ("/api/v1/user/robots/owner-only/federation", nil)
        },

        // Organization robots: admins of acme only.
        MatrixRow(.get, "/api/v1/organization/{orgname}/robots", path: "/api/v1/organization/acme/robots", acmeAdminOnly(200)),
        MatrixRow(.get, "/api/v1/organization/{orgname}/robots/{robot_shortname}", acmeAdminOnly(200)) { f, _ in
            try await ensureAcmeRobot(f, "matrix")
            return ("/api/v1/organization/acme/robots/matrix", nil)
        },
        MatrixRow(.put, "/api/v1/organization/{orgname}/robots/{robot_shortname}", acmeAdminOnly(201)) { _, who in
            ("/api/v1/organization/acme/robots/new-\(robotRowSlug(who))", nil)
        },
        MatrixRow(.delete, "/api/v1/organization/{orgname}/robots/{robot_shortname}", acmeAdminOnly(204)) { f, who in
            try await ensureAcmeRobot(f, "del-\(robotRowSlug(who))")
            return ("/api/v1/organization/acme/robots/del-\(robotRowSlug(who))", nil)
        },
        MatrixRow(.post, "/api/v1/organization/{orgname}/robots/{robot_shortname}/regenerate", acmeAdminOnly(200)) { f, _ in
            try await ensureAcmeRobot(f, "matrix")
            return ("/api/v1/organization/acme/robots/matrix/regenerate", nil)
        },
        MatrixRow(.get, "/api/v1/organization/{orgname}/robots/{robot_shortname}/permissions", acmeAdminOnly(200)) { f, _ in
            try await ensureAcmeRobot(f, "matrix")
            return ("/api/v1/organization/acme/robots/matrix/permissions", nil)
        },
        MatrixRow(.put, "/api/v1/organization/{orgname}/robots/{robot_shortname}/permissions", acmeAdminOnly(200)) { f, _ in
            try await ensureAcmeRobot(f, "matrix")
            return ("/api/v1/organization/acme/robots/matrix/permissions", #"{"permissions":[{"repository":"app","role":"read"}]}"#)
        },
        MatrixRow(.get, "/api/v1/organization/{orgname}/robots/{robot_shortname}/federation", acmeAdminOnly(200)) { f, _ in
            try await ensureAcmeRobot(f, "matrix")
            return ("/api/v1/organization/acme/robots/matrix/federation", nil)
        },
        MatrixRow(.post, "/api/v1/organization/{orgname}/robots/{robot_shortname}/federation", acmeAdminOnly(200)) { f, _ in
            try await ensureAcmeRobot(f, "matrix")
            return ("/api/v1/organization/acme/robots/matrix/federation", federationBody)
        },
        MatrixRow(.delete, "/api/v1/organization/{orgname}/robots/{robot_shortname}/federation", acmeAdminOnly(204)) { f, _ in
            try await ensureAcmeRobot(f, "matrix")
            return ("/api/v1/organization/acme/robots/matrix/federation", nil)
        },
    ]
}

private let federationBody = #"[{"issuer":"https://token.actions.githubusercontent.com","subject":"repo:acme/app:ref:refs/heads/main"}]"#

/// `.user(scope: "user:admin")`: anonymous 401, the `user:read` token 403, everyone else `status`.
private func userAdminScope(_ status: Int, _ except: [MatrixIdentity: Int] = [:]) -> [MatrixIdentity: Int] {
    expect(status, [.anonymous: 401, .narrowToken: 403].merging(except) { _, new in new })
}

/// `.organizationAdmin` on acme: only orgadmin; the superuser is not in acme.
private func acmeAdminOnly(_ status: Int) -> [MatrixIdentity: Int] {
    expect(403, [.anonymous: 401, .orgAdmin: status])
}

private func robotRowSlug(_ who: MatrixIdentity) -> String { who.rawValue.lowercased() }

/// Creates `<user>+<short>` for the identity's user unless it exists (owner and narrowToken share one).
private func ensureUserRobot(_ f: MatrixFixture, _ who: MatrixIdentity, _ short: String) async throws {
    guard let user = f.users[who] else { return }
    try await ensureRobot(f, owner: user, short)
}

private func ensureAcmeRobot(_ f: MatrixFixture, _ short: String) async throws {
    try await ensureRobot(f, owner: f.acme, short)
}

private func ensureRobot(_ f: MatrixFixture, owner: Namespace, _ short: String) async throws {
    let services = f.registry.services
    if try await services.accounts.robot(named: "\(owner.name)+\(short)", ownerID: owner.id) == nil {
        _ = try await services.createRobot(owner: owner, shortName: short)
    }
}
