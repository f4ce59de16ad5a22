import Accounts
import Foundation
import HTTPTypes
import Hummingbird

/// Default permissions of an organization (Quay `endpoints/api/prototype.py`): rules that grant a
/// user, robot or team a role on each repository created in the organization, by anyone or by
/// one activating user. `AccountStore.applyPrototypes` carries them out when a repository is
/// created.
///
/// Routes and the permission each needs (enforced by `APIRoutes`):
/// - GET    /api/v1/organization/{orgname}/prototypes               organization admin
/// - POST   /api/v1/organization/{orgname}/prototypes               organization admin
/// - PUT    /api/v1/organization/{orgname}/prototypes/{prototypeid} organization admin
/// - DELETE /api/v1/organization/{orgname}/prototypes/{prototypeid} organization admin
struct PrototypeAPI {
    let services: RegistryServices

    func register(_ api: APIRoutes) {
        let base = "/api/v1/organization/{orgname}/prototypes"
        api.add(.get, base, .organizationAdmin) { try await list($0) }
        api.add(.post, base, .organizationAdmin) { try await create($0) }
        api.add(.put, base + "/{prototypeid}", .organizationAdmin) { try await update($0) }
        api.add(.delete, base + "/{prototypeid}", .organizationAdmin) { try await delete($0) }
    }

    struct NewPrototype: Decodable {
        struct Delegate: Decodable {
            let name: String
            let kind: String
        }
        struct ActivatingUser: Decodable {
            let name: String
        }
        let role: String
        let delegate: Delegate
        let activating_user: ActivatingUser?
    }

    struct RoleUpdate: Decodable {
        let role: String
    }

    struct UserView: Encodable {
        let name: String
        let is_robot: Bool
        let kind = "user"
        let is_org_member: Bool
        let avatar: Avatar
    }

    struct DelegateView: Encodable {
        let name: String
        let kind: String
        let is_robot: Bool?
        let is_org_member: Bool?
        let avatar: Avatar
    }

    struct PrototypeView: Encodable {
        let activating_user: UserView?
        let delegate: DelegateView
        let role: String
        let id: String

        enum CodingKeys: String, CodingKey { case activating_user, delegate, role, id }

        // Quay sends `"activating_user": null` for for-anyone prototypes rather than leaving it out.
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(activating_user, forKey: .activating_user)
            try c.encode(delegate, forKey: .delegate)
            try c.encode(role, forKey: .role)
            try c.encode(id, forKey: .id)
        }
    }

    func list(_ r: APIRequest) async throws -> Response {
        let org = try OrganizationAPI.organization(of: r)
        let members = try await memberIDs(org)
        let views = try await services.accounts.prototypes(organizationID: org.id).map { view($0, members: members) }
        return APIResponse.json(["prototypes": views])
    }

    func create(_ r: APIRequest) async throws -> Response {
        let org = try OrganizationAPI.organization(of: r)
        let input = try await r.decode(NewPrototype.self)
        let role = try Self.role(input.role)
        var activating: OrgAccount?
        if let name = input.activating_user?.name {
            guard let account = try await services.accounts.orgAccount(named: name), account.isUser || account.isRobot else {
                throw APIError.invalidRequest("Unknown activating user")
            }
            guard !account.isRobot || account.ownerID == org.id else {
                throw APIError.invalidRequest("The activating robot does not belong to this organization")
            }
            activating = account
        }
        let prototype: PermissionPrototype
        switch input.delegate.kind {
        case "user":
            guard let account = try await services.accounts.orgAccount(named: input.delegate.name), account.isUser || account.isRobot else {
                throw APIError.invalidRequest("Unknown delegate user")
            }
            guard !account.isRobot || account.ownerID == org.id else {
                throw APIError.invalidRequest("The delegate robot does not belong to this organization")
            }
            prototype = try await services.accounts.createPrototype(organizationID: org.id, role: role, activatingUserID: activating?.id,
                                                                 delegateUserID: account.id, delegateTeamID: nil)
        case "team":
            guard let team = try await services.accounts.orgTeam(organizationID: org.id, name: input.delegate.name) else {
                throw APIError.invalidRequest("Unknown delegate team")
            }
            prototype = try await services.accounts.createPrototype(organizationID: org.id, role: role, activatingUserID: activating?.id,
                                                                 delegateUserID: nil, delegateTeamID: team.id)
        default:
            throw APIError.invalidRequest("'delegate.kind' must be one of user, team")
        }
        return APIResponse.json(view(prototype, members: try await memberIDs(org)))
    }

    func update(_ r: APIRequest) async throws -> Response {
        let org = try OrganizationAPI.organization(of: r)
        let input = try await r.decode(RoleUpdate.self)
        let role = try Self.role(input.role)
        guard let prototype = try await services.accounts.setPrototypeRole(organizationID: org.id, uuid: r.parameter("prototypeid"), role: role) else {
            throw APIError.notFound("prototype not found")
        }
        return APIResponse.json(view(prototype, members: try await memberIDs(org)))
    }

    func delete(_ r: APIRequest) async throws -> Response {
        let org = try OrganizationAPI.organization(of: r)
        guard try await services.accounts.deletePrototype(organizationID: org.id, uuid: r.parameter("prototypeid")) else {
            throw APIError.notFound("prototype not found")
        }
        return APIResponse.noContent()
    }

    // MARK: Helpers

    static func role(_ text: String) throws -> Role {
        guard let role = Role(rawValue: text) else { throw APIError.invalidRequest("'role' must be one of read, write, admin") }
        return role
    }

    private func memberIDs(_ org: Namespace) async throws -> Set<Int64> {
        Set(try await services.accounts.organizationMemberships(organizationID: org.id).map(\.account.id))
    }

    private func view(_ p: PermissionPrototype, members: Set<Int64>) -> PrototypeView {
        func user(_ a: OrgAccount) -> UserView {
            UserView(name: a.name, is_robot: a.isRobot, is_org_member: a.isRobot || members.contains(a.id), avatar: .account(a))
        }
        let delegate: DelegateView
        if let team = p.delegateTeam {
            delegate = DelegateView(name: team.name, kind: "team", is_robot: nil, is_org_member: nil, avatar: .team(team.name))
        } else if let a = p.delegateUser {
            let u = user(a)
            delegate = DelegateView(name: u.name, kind: "user", is_robot: u.is_robot, is_org_member: u.is_org_member, avatar: u.avatar)
        } else {
            delegate = DelegateView(name: "", kind: "user", is_robot: nil, is_org_member: nil, avatar: Avatar(name: "", emailOrID: nil, kind: "user"))
        }
        return PrototypeView(activating_user: p.activatingUser.map(user), delegate: delegate, role: p.role.rawValue, id: p.uuid)
    }
}
