import Foundation
import SlipwayCore
import SQLKit

/// Default permissions ("permission prototypes", Quay `PermissionPrototype`): rules of an
/// organization that grant a delegate (a user, robot or team) a role on every repository created
/// in it, either by anyone or only by one activating user.
public struct PermissionPrototype: Sendable, Equatable {
    public let uuid: String
    public let organizationID: Int64
    public let role: Role
    /// Nil: applies whoever creates the repository.
    public let activatingUser: OrgAccount?
    public let delegateUser: OrgAccount?
    public let delegateTeam: DelegateTeam?

    public struct DelegateTeam: Sendable, Equatable {
        public let id: Int64
        public let name: String
    }
}

extension AccountStore {
    private static let prototypeSelect = """
        SELECT p.uuid, p.org_id, p.role,
          a.id AS a_id, a.name AS a_name, a.kind AS a_kind, a.owner_id AS a_owner_id, a.email AS a_email,
          d.id AS d_id, d.name AS d_name, d.kind AS d_kind, d.owner_id AS d_owner_id, d.email AS d_email,
          t.id AS t_id, t.name AS t_name
        FROM prototypes p
        LEFT JOIN namespaces a ON a.id = p.activating_user_id
        LEFT JOIN namespaces d ON d.id = p.delegate_user_id
        LEFT JOIN teams t ON t.id = p.delegate_team_id
        """

    private static func prototype(from row: any SQLRow) throws -> PermissionPrototype {
        func account(_ prefix: String) throws -> OrgAccount? {
            guard let id = try row.optionalInt64("\(prefix)_id") else { return nil }
            return OrgAccount(id: id, name: try row.string("\(prefix)_name"), kind: try row.string("\(prefix)_kind"),
                              ownerID: try row.optionalInt64("\(prefix)_owner_id"), email: try row.optionalString("\(prefix)_email"))
        }
        var team: PermissionPrototype.DelegateTeam?
        if let id = try row.optionalInt64("t_id") { team = .init(id: id, name: try row.string("t_name")) }
        return PermissionPrototype(uuid: try row.string("uuid"), organizationID: try row.int64("org_id"),
                                   role: Role(rawValue: try row.string("role")) ?? .read,
                                   activatingUser: try account("a"), delegateUser: try account("d"), delegateTeam: team)
    }

    /// The organization's prototypes, oldest first.
    public func prototypes(organizationID: Int64) async throws -> [PermissionPrototype] {
        try await database.read { db in
            try await db.raw("\(unsafeRaw: Self.prototypeSelect) WHERE p.org_id = \(bind: organizationID) ORDER BY p.id")
                .all().map(Self.prototype(from:))
        }
    }

    public func prototype(organizationID: Int64, uuid: String) async throws -> PermissionPrototype? {
        try await database.read { db in
            try await db.raw("\(unsafeRaw: Self.prototypeSelect) WHERE p.org_id = \(bind: organizationID) AND p.uuid = \(bind: uuid)")
                .first().map(Self.prototype(from:))
        }
    }

    /// Creates a prototype; exactly one of `delegateUserID` and `delegateTeamID` is set. Callers
    /// validate that the delegate and activating user belong with the organization.
    public func createPrototype(organizationID: Int64, role: Role, activatingUserID: Int64?, delegateUserID: Int64?,
                                delegateTeamID: Int64?) async throws -> PermissionPrototype {
        precondition((delegateUserID == nil) != (delegateTeamID == nil), "a prototype has one delegate")
        let uuid = UUID().uuidString.lowercased()
        try await database.transaction { db in
            try await db.raw("""
                INSERT INTO prototypes (uuid, org_id, activating_user_id, delegate_user_id, delegate_team_id, role, created_at)
                VALUES (\(bind: uuid), \(bind: organizationID), \(bind: activatingUserID), \(bind: delegateUserID),
                        \(bind: delegateTeamID), \(bind: role.rawValue), \(bind: Clock.nowMillis()))
                """).run()
        }
        return try await prototype(organizationID: organizationID, uuid: uuid)!
    }

    /// Changes a prototype's role; nil when the organization has no such prototype.
    public func setPrototypeRole(organizationID: Int64, uuid: String, role: Role) async throws -> PermissionPrototype? {
        let updated = try await database.transaction { db in
            try await db.raw("""
                UPDATE prototypes SET role = \(bind: role.rawValue) WHERE org_id = \(bind: organizationID) AND uuid = \(bind: uuid) RETURNING id
                """).first() != nil
        }
        return updated ? try await prototype(organizationID: organizationID, uuid: uuid) : nil
    }

    public func deletePrototype(organizationID: Int64, uuid: String) async throws -> Bool {
        try await database.transaction { db in
            try await db.raw("""
                DELETE FROM prototypes WHERE org_id = \(bind: organizationID) AND uuid = \(bind: uuid) RETURNING id
                """).first() != nil
        }
    }

    /// Applies the organization's default permissions to a repository just created in it by
    /// `creatorID` (a user or robot). As in Quay, a prototype for this creator pre-empts a
    /// for-anyone prototype naming the same delegate; among prototypes of the same kind the
    /// strongest role wins. Grants are only ever raised, so a prototype never weakens the
    /// creator's own admin grant. Repositories outside organizations are left alone.
    public func applyPrototypes(repository: Repository, creatorID: Int64) async throws {
        try await database.transaction { db in
            guard try await db.raw("""
                SELECT id FROM namespaces WHERE id = \(bind: repository.namespaceID) AND kind = 'organization'
                """).first() != nil else { return }
            let rows = try await db.raw("""
                SELECT activating_user_id, delegate_user_id, delegate_team_id, role FROM prototypes
                WHERE org_id = \(bind: repository.namespaceID)
                  AND (activating_user_id IS NULL OR activating_user_id = \(bind: creatorID))
                ORDER BY id
                """).all()
            enum Delegate: Hashable { case user(Int64), team(Int64) }
            var chosen: [Delegate: (specific: Bool, role: Role)] = [:]
            for row in rows {
                guard let role = Role(rawValue: try row.string("role")) else { continue }
                let specific = try row.optionalInt64("activating_user_id") != nil
                let delegate: Delegate
                if let user = try row.optionalInt64("delegate_user_id") {
                    delegate = .user(user)
                } else if let team = try row.optionalInt64("delegate_team_id") {
                    delegate = .team(team)
                } else {
                    continue
                }
                if let current = chosen[delegate] {
                    if current.specific && !specific { continue }
                    if current.specific == specific && current.role >= role { continue }
                }
                chosen[delegate] = (specific, role)
            }
            for (delegate, choice) in chosen {
                switch delegate {
                case .user(let userID):
                    let existing = try await db.raw("""
                        SELECT role FROM repository_permissions WHERE repository_id = \(bind: repository.id) AND user_id = \(bind: userID)
                        """).first().flatMap { Role(rawValue: try $0.string("role")) }
                    if let existing, existing >= choice.role { continue }
                    try await db.raw("""
                        INSERT INTO repository_permissions (repository_id, user_id, role) VALUES (\(bind: repository.id), \(bind: userID), \(bind: choice.role.rawValue))
                        ON CONFLICT (repository_id, user_id) DO UPDATE SET role = excluded.role
                        """).run()
                case .team(let teamID):
                    let existing = try await db.raw("""
                        SELECT role FROM repository_team_permissions WHERE repository_id = \(bind: repository.id) AND team_id = \(bind: teamID)
                        """).first().flatMap { Role(rawValue: try $0.string("role")) }
                    if let existing, existing >= choice.role { continue }
                    try await db.raw("""
                        INSERT INTO repository_team_permissions (repository_id, team_id, role) VALUES (\(bind: repository.id), \(bind: teamID), \(bind: choice.role.rawValue))
                        ON CONFLICT (repository_id, team_id) DO UPDATE SET role = excluded.role
                        """).run()
                }
            }
        }
    }
}
