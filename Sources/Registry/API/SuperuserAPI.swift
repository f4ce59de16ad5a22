import Accounts
import Audit
import Foundation
import HTTPTypes
import Hummingbird
import SlipwayCore

/// Quay's superuser API (`endpoints/api/superuser.py`): every user and organization, creating,
/// disabling and deleting users, the registry status and every usage log. Superusers are named
/// in `auth.superUsers` (Quay's `SUPER_USERS`).
///
/// Routes (all "superuser", enforced by `APIRoutes`):
/// - GET/POST          /api/v1/superuser/users/
/// - GET/PUT/DELETE    /api/v1/superuser/users/{username}   PUT `{enabled?, email?, password?}`
/// - GET               /api/v1/superuser/organizations/
/// - DELETE            /api/v1/superuser/organizations/{name}
/// - GET               /api/v1/superuser/registrystatus
/// - GET               /api/v1/superuser/logs               like `/user/logs`, over every entry
/// - GET               /api/v1/superuser/aggregatelogs      like `/user/aggregatelogs`, over every entry
/// - POST              /api/v1/superuser/exportlogs         like `/user/exportlogs`, over every entry
struct SuperuserAPI {
    let services: RegistryServices

    func register(_ api: APIRoutes) {
        api.add(.get, "/api/v1/superuser/users/", .superuser) { try await users($0) }
        api.add(.post, "/api/v1/superuser/users/", .superuser) { try await createUser($0) }
        api.add(.get, "/api/v1/superuser/users/{username}", .superuser) { try await user($0) }
        api.add(.put, "/api/v1/superuser/users/{username}", .superuser) { try await updateUser($0) }
        api.add(.delete, "/api/v1/superuser/users/{username}", .superuser) { try await deleteUser($0) }
        api.add(.get, "/api/v1/superuser/organizations/", .superuser) { try await organizations($0) }
        api.add(.delete, "/api/v1/superuser/organizations/{name}", .superuser) { try await deleteOrganization($0) }
        api.add(.get, "/api/v1/superuser/registrystatus", .superuser) { _ in APIResponse.json(["status": "ready"]) }
        api.add(.get, "/api/v1/superuser/logs", .superuser) { try await LogsAPI(services: services).logs($0, .everything) }
        api.add(.get, "/api/v1/superuser/aggregatelogs", .superuser) { try await LogsAPI(services: services).aggregate($0, .everything) }
        // Not in Quay: the panel's usage-log view offers export as every other log view does.
        api.add(.post, "/api/v1/superuser/exportlogs", .superuser) { r in
            let user = try r.user
            return try await LogExportAPI(services: services).queue(r, .everything, namespace: user.name, repository: nil) { export in
                AuditEvent(kind: .exportLogsSuccess, performer: r.actor, namespace: (user.id, user.name), ip: r.ip, metadata: export)
            }
        }
    }

    /// Quay's `user_view` in the superuser API.
    struct UserView: Encodable {
        let kind = "user"
        let name: String
        let username: String
        let email: String?
        let verified = true
        let avatar: Avatar
        let super_user: Bool
        let enabled: Bool
        /// Only when the call set or generated a password (Quay sends it once, on creation).
        let password: String?

        init(_ record: AdministeredUser, password: String? = nil) {
            name = record.user.name
            username = record.user.name
            email = record.user.email
            avatar = .user(record.user)
            super_user = record.user.isSuperuser
            enabled = record.enabled
            self.password = password
        }
    }

    func users(_ r: APIRequest) async throws -> Response {
        struct Body: Encodable { let users: [UserView] }
        return APIResponse.json(Body(users: try await services.accounts.administeredUsers().map { UserView($0) }))
    }

    func target(_ r: APIRequest) async throws -> AdministeredUser {
        guard let found = try await services.accounts.administeredUser(named: r.parameter("username")) else {
            throw APIError.notFound("user '\(r.parameter("username").prefix(255))' not found")
        }
        return found
    }

    func user(_ r: APIRequest) async throws -> Response {
        APIResponse.json(UserView(try await target(r)))
    }

    struct CreateUser: Decodable {
        let username: String
        let email: String?
    }

    /// Creates a user with a generated password, returned once (as Quay does).
    func createUser(_ r: APIRequest) async throws -> Response {
        let input = try await r.decode(CreateUser.self)
        guard Names.isValidNamespace(input.username) else {
            throw APIError.invalidRequest("Invalid username: use 2-255 characters of a-z, 0-9 and single '.', '_' or '-' between them")
        }
        let email = input.email?.trimmingCharacters(in: .whitespaces)
        if let email, !email.isEmpty {
            guard AccountAPI.isPlausibleEmail(email) else { throw APIError.invalidRequest("Invalid e-mail address") }
            if try await services.accounts.userEmailInUse(email, exceptUserID: 0) { throw APIError.invalidRequest("E-mail address already used") }
        }
        let password = Bootstrap.generatePassword()
        let created: Namespace
        do {
            created = try await services.accounts.createUser(name: input.username, passwordHash: try await services.hasher.hash(password),
                                                             email: email?.isEmpty == false ? email : nil,
                                                             superuser: services.config.auth.superUsers.contains(input.username))
        } catch let e as DomainError where e.code == .alreadyExists {
            throw APIError.invalidRequest("A user or organization with this name already exists")
        }
        record(.userCreate, r, subject: created.name)
        return APIResponse.json(UserView(AdministeredUser(user: created, enabled: true), password: password))
    }

    struct UpdateUser: Decodable {
        let enabled: Bool?
        let email: String?
        let password: String?
    }

    func updateUser(_ r: APIRequest) async throws -> Response {
        let me = try r.user
        let found = try await target(r)
        let input = try await r.decode(UpdateUser.self)
        if let password = input.password, let problem = Names.passwordProblem(password) {
            throw APIError.invalidRequest("Invalid password: \(problem)")
        }
        var newEmail: String?
        if let email = input.email?.trimmingCharacters(in: .whitespaces), email != found.user.email {
            guard AccountAPI.isPlausibleEmail(email) else { throw APIError.invalidRequest("Invalid e-mail address") }
            if try await services.accounts.userEmailInUse(email, exceptUserID: found.user.id) {
                throw APIError.invalidRequest("E-mail address already used")
            }
            newEmail = email
        }
        if let enabled = input.enabled, enabled != found.enabled {
            if !enabled && found.user.id == me.id {
                throw APIError.invalidRequest("You cannot disable your own account")
            }
            do {
                try await services.accounts.setUserEnabled(userID: found.user.id, enabled)
            } catch let e as DomainError where e.code == .conflict {
                throw APIError.invalidRequest("'\(found.user.name)' is the last enabled superuser and cannot be disabled")
            }
            record(enabled ? .userEnable : .userDisable, r, subject: found.user.name)
        }
        let passwordHash = try await input.password.asyncMap { try await services.hasher.hash($0) }
        if newEmail != nil || passwordHash != nil {
            try await services.accounts.updateAccount(userID: found.user.id, passwordHash: passwordHash, email: newEmail)
            if newEmail != nil { record(.userChangeEmail, r, subject: found.user.name) }
            if passwordHash != nil { record(.userChangePassword, r, subject: found.user.name) }
        }
        return APIResponse.json(UserView(try await target(r)))
    }

    func deleteUser(_ r: APIRequest) async throws -> Response {
        let me = try r.user
        let found = try await target(r)
        guard found.user.id != me.id else {
            throw APIError.invalidRequest("You cannot delete your own account from the superuser API; use DELETE /api/v1/user/")
        }
        try await AccountAPI(services: services).remove(found.user, subject: "'\(found.user.name)' is")
        record(.userDelete, r, subject: found.user.name)
        r.context.logger.notice("superuser deleted a user", metadata: ["user": "\(found.user.name)", "by": "\(me.name)"])
        return APIResponse.noContent()
    }

    func organizations(_ r: APIRequest) async throws -> Response {
        struct Org: Encodable { let name: String; let email: String; let avatar: Avatar }
        let orgs = try await services.accounts.allOrganizations()
        return APIResponse.json(["organizations": orgs.map { Org(name: $0.name, email: $0.email ?? "", avatar: .organization($0.name, email: $0.email)) }])
    }

    func deleteOrganization(_ r: APIRequest) async throws -> Response {
        guard let org = try await services.accounts.namespace(named: r.parameter("name")), org.kind == .organization else {
            throw APIError.notFound("organization not found")
        }
        try await OrganizationAPI(services: services, inviteNotices: []).remove(org, by: try r.user)
        services.auditLog.record(AuditEvent(kind: .orgDelete, performer: r.actor, ip: r.ip, metadata: ["namespace": org.name, "superuser": "true"]))
        return APIResponse.noContent()
    }

    /// A usage-log entry on the acting superuser's log, naming the account acted on.
    private func record(_ kind: AuditKind, _ r: APIRequest, subject: String) {
        let namespace = r.caller.map { ($0.user.id, $0.user.name) }
        services.auditLog.record(AuditEvent(kind: kind, performer: r.actor, namespace: namespace, ip: r.ip,
                                            metadata: ["username": subject, "superuser": "true"]))
    }
}

extension Optional {
    fileprivate func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
