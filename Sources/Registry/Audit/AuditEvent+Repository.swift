import Accounts
import Audit

extension AuditEvent {
    /// The event for an action on a repository of this registry: under its namespace, with the
    /// names in the metadata (`namespace`, `repo`) as Quay writes them.
    public static func repository(_ kind: AuditKind, _ repo: Repository, performer: Actor?, ip: String?, _ metadata: [String: String] = [:]) -> AuditEvent {
        var meta = metadata
        meta["namespace"] = repo.namespace
        meta["repo"] = repo.name
        return AuditEvent(kind: kind, performer: performer, namespace: (repo.namespaceID, repo.namespace),
                          repository: (repo.id, repo.name), ip: ip, metadata: meta)
    }
}
