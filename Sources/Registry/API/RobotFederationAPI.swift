import Accounts
import Foundation
import Hummingbird

/// Robot federation (Quay 3.13 keyless robots): which OIDC identities may exchange their token
/// for a short-lived token of the robot at `GET /oauth2/federation/robot/token`.
///
/// Routes and the permission each needs (enforced by `APIRoutes`):
/// - GET    /api/v1/user/robots/{robot_shortname}/federation                 signed in, user:admin
/// - POST   /api/v1/user/robots/{robot_shortname}/federation                 signed in, user:admin (replace)
/// - DELETE /api/v1/user/robots/{robot_shortname}/federation                 signed in, user:admin
/// - the same three under /api/v1/organization/{orgname}/robots…             organization admin
///
/// The body of POST is Quay's list of `{issuer, subject}`; Slipway adds an optional `audience`
/// and `conditions` (claim name -> required string value). Setting or deleting the federation
/// revokes the tokens exchanged under the old one. Each change is an identity notice to the
/// robot's owner (an organization's admins), after it is stored.
struct RobotFederationAPI {
    let services: RegistryServices
    let notifier: IdentityNotifier

    static let maxEntries = 20
    static let maxConditions = 20
    /// Claims the exchange already checks on their own; a condition on them would only confuse.
    static let reservedClaims: Set<String> = ["iss", "sub", "aud", "exp", "nbf", "iat"]

    func register(_ api: APIRoutes) {
        let robots = RobotAPI(services: services)
        let user = APIRequirement.user(scope: "user:admin")
        let userPath = "/api/v1/user/robots/{robot_shortname}/federation"
        api.add(.get, userPath, user) { try await get($0, robot: try await robots.find($0, owner: try $0.user)) }
        api.add(.post, userPath, user) { try await set($0, robot: try await robots.find($0, owner: try $0.user)) }
        api.add(.delete, userPath, user) { try await delete($0, robot: try await robots.find($0, owner: try $0.user)) }
        let orgPath = "/api/v1/organization/{orgname}/robots/{robot_shortname}/federation"
        api.add(.get, orgPath, .organizationAdmin) { try await get($0, robot: try await robots.find($0, owner: try RobotAPI.organization($0))) }
        api.add(.post, orgPath, .organizationAdmin) { try await set($0, robot: try await robots.find($0, owner: try RobotAPI.organization($0))) }
        api.add(.delete, orgPath, .organizationAdmin) { try await delete($0, robot: try await robots.find($0, owner: try RobotAPI.organization($0))) }
    }

    /// One entry as the API shows it: Quay's two fields, plus Slipway's when set.
    struct EntryView: Codable {
        let issuer: String
        let subject: String
        let audience: String?
        let conditions: [String: String]?

        init(_ entry: RobotFederationEntry) {
            issuer = entry.issuer
            subject = entry.subject
            audience = entry.audience
            conditions = entry.conditions.isEmpty ? nil : entry.conditions
        }
    }

    func get(_ r: APIRequest, robot: RobotAccount) async throws -> Response {
        APIResponse.json(try await services.accounts.robotFederation(robotID: robot.id).map(EntryView.init))
    }

    func set(_ r: APIRequest, robot: RobotAccount) async throws -> Response {
        let input = try await r.decode([EntryView].self)
        guard input.count <= Self.maxEntries else { throw APIError.invalidRequest("at most \(Self.maxEntries) federation entries per robot") }
        let entries = try input.map(validate)
        try await services.accounts.setRobotFederation(robotID: robot.id, entries: entries)
        await notifier.robotFederationChanged(robot, entries: entries, by: try r.user.name, origin: r.origin)
        return APIResponse.json(entries.map(EntryView.init))
    }

    func delete(_ r: APIRequest, robot: RobotAccount) async throws -> Response {
        try await services.accounts.setRobotFederation(robotID: robot.id, entries: [])
        await notifier.robotFederationChanged(robot, entries: [], by: try r.user.name, origin: r.origin)
        return APIResponse.noContent()
    }

    /// An issuer is an absolute https URL (http only where `security.allowPrivateTargets` allows
    /// private targets: tests and closed networks), without query or fragment; the other fields
    /// are bounded text without control characters.
    func validate(_ view: EntryView) throws -> RobotFederationEntry {
        let issuer = view.issuer.trimmingCharacters(in: .whitespaces)
        guard issuer.count <= 2048, let url = URL(string: issuer), let scheme = url.scheme?.lowercased(), url.host?.isEmpty == false,
              url.query == nil, url.fragment == nil,
              scheme == "https" || (scheme == "http" && services.config.security.allowPrivateTargets) else {
            throw APIError.invalidRequest("'issuer' must be an https URL without query or fragment: \(issuer.prefix(200))")
        }
        let subject = try Self.text(view.subject, field: "subject")
        let audience = try view.audience.map { try Self.text($0, field: "audience") }
        let conditions = view.conditions ?? [:]
        guard conditions.count <= Self.maxConditions else { throw APIError.invalidRequest("at most \(Self.maxConditions) conditions per entry") }
        for (claim, value) in conditions {
            _ = try Self.text(claim, field: "condition claim", limit: 128)
            _ = try Self.text(value, field: "condition value")
            guard !Self.reservedClaims.contains(claim) else {
                throw APIError.invalidRequest("'\(claim)' cannot be a condition: it is checked by issuer, subject and audience")
            }
        }
        return RobotFederationEntry(issuer: issuer, subject: subject, audience: audience, conditions: conditions)
    }

    static func text(_ value: String, field: String, limit: Int = 1024) throws -> String {
        guard !value.isEmpty, value.count <= limit else { throw APIError.invalidRequest("'\(field)' must be 1 to \(limit) characters") }
        guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw APIError.invalidRequest("'\(field)' must not contain control characters")
        }
        return value
    }
}
