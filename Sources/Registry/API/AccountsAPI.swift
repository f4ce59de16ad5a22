import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The first `/api/v1` resources: the current user and organizations.
///
/// | route | permission |
/// |---|---|
/// | GET /api/v1/user/ | signed in, `user:read` |
/// | POST /api/v1/organization/ | signed in, `user:admin` |
/// | GET /api/v1/organization/{org} | signed in, `user:read`; members see teams |
public struct AccountsAPI: Sendable {
    let services: RegistryServices
    let auth: APIAuthenticator

    public init(services: RegistryServices) {
        self.services = services
        self.auth = APIAuthenticator(store: services.store)
    }

    public func register(on router: Router<BasicRequestContext>) {
        router.get("/api/v1/user/") { request, context in await self.run(request) { try await self.currentUser(request) } }
        router.post("/api/v1/organization/") { request, context in await self.run(request) { try await self.createOrganization(request, context) } }
        router.get("/api/v1/organization/{org}") { request, context in
            await self.run(request) { try await self.organization(request, name: context.parameters.get("org") ?? "") }
        }
    }

    /// Runs a handler and renders failures as Quay error bodies.
    func run(_ request: Request, _ body: () async throws -> Response) async -> Response {
        let origin = RequestOrigin(request: request, config: services.config)
        do {
            return try await body()
        } catch let error as APIError {
            return error.response(baseURL: origin.baseURL)
        } catch {
            services.logger.error("api request failed", metadata: ["error": "\(String(reflecting: error))"])
            return APIError(.internalServerError, "internal_error", "internal server error").response(baseURL: origin.baseURL)
        }
    }

    struct UserView: Encodable {
        struct Org: Encodable { let name: String; let is_org_admin: Bool }
        let anonymous = false
        let username: String
        let email: String?
        let verified = true
        let organizations: [Org]
        let can_create_repo = true
        let preferred_namespace = false
        let super_user: Bool
    }

    func currentUser(_ request: Request) async throws -> Response {
        let caller = try await auth.caller(request)
        try caller.require("user:read")
        var orgs: [UserView.Org] = []
        for org in try await services.store.organizations(ofUser: caller.user.id) {
            let role = try await services.store.teamRole(userID: caller.user.id, organizationID: org.id)
            orgs.append(.init(name: org.name, is_org_admin: role == .admin))
        }
        return json(UserView(username: caller.user.name, email: caller.user.email, organizations: orgs, super_user: caller.user.isSuperuser))
    }

    struct CreateOrganization: Decodable {
        let name: String
        let email: String?
    }

    func createOrganization(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let caller = try await auth.caller(request)
        try caller.require("user:admin")
        let input: CreateOrganization
        do {
            input = try await request.decode(as: CreateOrganization.self, context: context)
        } catch {
            throw APIError.invalidRequest("the body must be JSON with a string 'name' and an optional 'email'")
        }
        guard Names.isValidNamespace(input.name) else {
            throw APIError.invalidRequest("Invalid organization name: use 2-255 characters of a-z, 0-9 and single '.', '_' or '-' between them")
        }
        do {
            try await services.store.createOrganization(name: input.name, email: input.email, creatorID: caller.user.id)
        } catch MetadataError.alreadyExists {
            throw APIError.invalidRequest("A user or organization with this name already exists")
        }
        return Response(status: .created, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "\"Created\"")))
    }

    struct OrganizationView: Encodable {
        struct Team: Encodable { let name: String; let role: String }
        let name: String
        let email: String?
        let is_admin: Bool
        let is_member: Bool
        let teams: [String: Team]?
    }

    func organization(_ request: Request, name: String) async throws -> Response {
        let caller = try await auth.caller(request)
        try caller.require("user:read")
        guard let org = try await services.store.namespace(named: name), org.kind == .organization else { throw APIError.notFound() }
        let role = try await services.store.teamRole(userID: caller.user.id, organizationID: org.id)
        var teams: [String: OrganizationView.Team]?
        if role != nil {
            teams = Dictionary(uniqueKeysWithValues: try await services.store.teams(organizationID: org.id).map { ($0.name, OrganizationView.Team(name: $0.name, role: $0.role)) })
        }
        return json(OrganizationView(name: org.name, email: role == .admin ? org.email : nil, is_admin: role == .admin, is_member: role != nil, teams: teams))
    }

    func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: V2Handler.encodeJSON(value)))
    }
}

extension MetadataStore {
    public func teams(organizationID: Int64) async throws -> [(name: String, role: String)] {
        try await database.read { db in
            try await db.raw("SELECT name, role FROM teams WHERE org_id = \(bind: organizationID) ORDER BY name").all().map {
                (try $0.string("name"), try $0.string("role"))
            }
        }
    }
}
