import Accounts
import Audit
import SlipwayCore

/// Applies the groups a sign-in through a provider brought (`OIDCSignIn.Verified.groups`) to
/// the teams synced to that provider's groups, and writes the usage-log entries: Quay's
/// `org_add_team_member` / `org_remove_team_member` with the group that decided
/// (`synced_group`), under the organization, performed by the person signing in.
///
/// A failure here is logged and the sign-in goes on: membership then stays as it was until
/// the next sign-in, which is what an unreachable userinfo endpoint does too.
public struct OIDCTeamSync: Sendable {
    let services: RegistryServices

    public init(services: RegistryServices) {
        self.services = services
    }

    @discardableResult
    public func apply(_ user: Namespace, provider: OIDCProviderConfig, groups: [String]?, ip: String?) async -> TeamSyncOutcome? {
        guard let groups, !provider.groupsClaim.isEmpty else { return nil }
        let outcome: TeamSyncOutcome
        do {
            outcome = try await services.accounts.syncTeams(userID: user.id, provider: provider.name, groups: Set(groups))
        } catch {
            services.logger.error("team sync failed", metadata: ["user": "\(user.name)", "oidc.provider": "\(provider.name)", "error": "\(error)"])
            return nil
        }
        let performer = AuditEvent.Actor(id: user.id, name: user.name, kind: "user")
        for (kind, changes) in [(AuditKind.orgAddTeamMember, outcome.added), (.orgRemoveTeamMember, outcome.removed)] {
            for change in changes {
                services.auditLog.record(AuditEvent(kind: kind, performer: performer, namespace: (change.organizationID, change.organization), ip: ip,
                                                    metadata: ["member": user.name, "team": change.team, "synced_group": change.group,
                                                               "service": provider.name]))
            }
        }
        for kept in outcome.keptLastAdmin {
            services.logger.warning("team sync kept the organization's last admin",
                                    metadata: ["user": "\(user.name)", "namespace": "\(kept.organization)", "team": "\(kept.team)"])
        }
        if !outcome.added.isEmpty || !outcome.removed.isEmpty {
            services.logger.info("team sync applied", metadata: ["user": "\(user.name)", "oidc.provider": "\(provider.name)",
                                                                 "added": "\(outcome.added.count)", "removed": "\(outcome.removed.count)"])
        }
        return outcome
    }
}
