import Accounts
import Audit
import Foundation
import Hummingbird
import SlipwayCore

/// Team sync by an OIDC group claim (Quay's `OrganizationTeamSyncing`, `endpoints/api/team.py`):
/// an organization admin binds a team to a group of a provider with `groupsClaim`; from then on
/// each sign-in through that provider adds the person to the team or removes them, and members
/// cannot be added or removed by hand (robots excepted, as in Quay).
///
/// Routes and the permission each needs (enforced by `APIRoutes`):
/// - POST   /api/v1/organization/{orgname}/team/{teamname}/syncing   organization admin
///          body `{"group_name": "<group>"}` (Quay's OIDC shape; `group_config` is accepted too,
///          and Slipway's optional `provider` picks one of several providers)
/// - DELETE /api/v1/organization/{orgname}/team/{teamname}/syncing   organization admin
///
/// Both answer the team view, as Quay does. Without a provider that has `groupsClaim`, POST is
/// refused with 400 (Quay hides the endpoint without a federated login service); DELETE always
/// works, so a binding can be removed after the provider left the configuration.
struct TeamSyncAPI {
    let services: RegistryServices

    /// The `service` Quay names OIDC team sync with (`synced.service`, `can_sync.service`).
    static let service = "oidc"
    static let maxGroupLength = 255

    func register(_ api: APIRoutes) {
        let path = "/api/v1/organization/{orgname}/team/{teamname}/syncing"
        api.add(.post, path, .organizationAdmin) { try await enable($0) }
        api.add(.delete, path, .organizationAdmin) { try await disable($0) }
    }

    /// Providers whose sign-ins can sync teams.
    static func syncingProviders(_ config: SlipwayConfig) -> [OIDCProviderConfig] {
        config.auth.oidc.filter { !$0.groupsClaim.isEmpty }
    }

    struct Input: Decodable {
        let group_name: String?
        let group_config: String?
        let provider: String?
    }

    func enable(_ r: APIRequest) async throws -> Response {
        let org = try OrganizationAPI.organization(of: r)
        let providers = Self.syncingProviders(services.config)
        guard !providers.isEmpty else {
            throw APIError.invalidRequest("Could not sync to group: team syncing needs a single sign-on provider with a groups claim (auth.oidc[].groupsClaim)")
        }
        let team = try await TeamAPI.existingTeam(r, accounts: services.accounts)
        let input = try await r.decode(Input.self)
        let group = try Self.groupName(input, organization: org.name)
        let provider: OIDCProviderConfig
        if let name = input.provider {
            guard let named = providers.first(where: { $0.name == name }) else {
                throw APIError.invalidRequest("Could not sync to group: '\(name.prefix(64))' is not a provider with a groups claim")
            }
            provider = named
        } else {
            guard providers.count == 1 else {
                throw APIError.invalidRequest("Could not sync to group: several providers have a groups claim; name one in 'provider' (\(providers.map(\.name).joined(separator: ", ")))")
            }
            provider = providers[0]
        }
        _ = try await services.accounts.setTeamSync(teamID: team.id, provider: provider.name, groupName: group)
        services.auditLog.record(AuditEvent(kind: .orgEnableTeamSync, performer: r.actor, namespace: (org.id, org.name), ip: r.ip,
                                            metadata: ["team": team.name, "group_name": group, "service": provider.name]))
        services.logger.info("team sync enabled", metadata: ["namespace": "\(org.name)", "team": "\(team.name)", "oidc.provider": "\(provider.name)"])
        return APIResponse.json(TeamAPI.teamView(team))
    }

    func disable(_ r: APIRequest) async throws -> Response {
        let org = try OrganizationAPI.organization(of: r)
        let team = try await TeamAPI.existingTeam(r, accounts: services.accounts)
        if let binding = try await services.accounts.teamSync(teamID: team.id), try await services.accounts.removeTeamSync(teamID: team.id) {
            services.auditLog.record(AuditEvent(kind: .orgDisableTeamSync, performer: r.actor, namespace: (org.id, org.name), ip: r.ip,
                                                metadata: ["team": team.name, "group_name": binding.groupName, "service": binding.provider]))
        }
        return APIResponse.json(TeamAPI.teamView(team))
    }

    /// `group_name`, or Quay's `group_config` (its older UI sent `<org>:<group>`).
    static func groupName(_ input: Input, organization: String) throws -> String {
        var group = (input.group_name ?? input.group_config ?? "").trimmingCharacters(in: .whitespaces)
        if input.group_name == nil, group.hasPrefix(organization + ":") { group.removeFirst(organization.count + 1) }
        guard !group.isEmpty else { throw APIError.invalidRequest("Could not sync to group: 'group_name' is required") }
        guard group.count <= maxGroupLength, !group.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw APIError.invalidRequest("Could not sync to group: 'group_name' must be 1 to \(maxGroupLength) characters without control characters")
        }
        return group
    }

    /// `synced` of the members listing: the service for everyone who may see the team; the
    /// provider, group and last update also for those who may change the binding (Quay shows
    /// those to superusers only; here organization admins set it up, so they see it too).
    struct SyncedView: Encodable {
        let binding: TeamSyncBinding
        let detailed: Bool

        enum Keys: String, CodingKey { case service, provider, config, last_updated }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(TeamSyncAPI.service, forKey: .service)
            guard detailed else { return }
            try c.encode(binding.provider, forKey: .provider)
            let config = (try? JSONDecoder().decode([String: String].self, from: Data(binding.config.utf8))) ?? ["group_name": binding.groupName]
            try c.encode(config, forKey: .config)
            if let last = binding.lastUpdated { try c.encode(APIDates.rfc2822(millis: last), forKey: .last_updated) } else { try c.encodeNil(forKey: .last_updated) }
        }
    }

    /// `can_sync`: shown to those who may set up syncing, when a provider can sync.
    struct CanSyncView: Encodable {
        let service = TeamSyncAPI.service
        let providers: [String]
    }
}
