import Accounts
import Foundation

/// Which repository a build may use as its registry layer cache (`cache_repository`, #18 item 3):
/// one of the build's own namespace, that exists, and that the person asking may write to. It is
/// checked when the build (or the trigger) is configured, and again when a worker leases the
/// build, for the user the build acts for: a cache they can no longer write to is skipped with a
/// log line, never a failed build.
public enum LayerCacheRepository {
    /// Resolves `name` (`repo` or `namespace/repo`) for a build of `target` asked for by `user`.
    /// - Throws: `BuildInputError` saying what is wrong.
    public static func resolve(_ name: String, target: Repository, user: Namespace, accounts: AccountStore) async throws -> RepositoryPath {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        let parts = trimmed.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let path: RepositoryPath
        switch parts.count {
        case 1 where !parts[0].isEmpty: path = RepositoryPath(namespace: target.namespace, name: parts[0])
        case 2 where !parts[0].isEmpty && !parts[1].isEmpty: path = RepositoryPath(namespace: parts[0], name: parts[1])
        default: throw BuildInputError("cache_repository must be a repository name, or namespace/name")
        }
        guard path.namespace == target.namespace else {
            throw BuildInputError("cache_repository must be a repository of namespace \(target.namespace)")
        }
        guard path.name != target.name else {
            throw BuildInputError("cache_repository must not be the repository being built (its tags would fill up with cache entries)")
        }
        guard let repository = try await accounts.repository(path), try await mayWrite(userID: user.id, superuser: user.isSuperuser, repository, accounts) else {
            // One answer for "missing" and "not yours": the caller learns nothing about repositories it cannot write.
            throw BuildInputError("cache_repository \(path) does not exist or you cannot write to it; create it first")
        }
        return path
    }

    /// The cache repository at lease time, if the user the build acts for may still write to it.
    static func usable(_ path: String, target: Repository, userID: Int64?, accounts: AccountStore) async throws -> Repository? {
        let parts = path.split(separator: "/").map(String.init)
        guard parts.count == 2, parts[0] == target.namespace, let userID,
              let user = try await accounts.namespace(id: userID),
              let repository = try await accounts.repository(RepositoryPath(namespace: parts[0], name: parts[1])),
              try await mayWrite(userID: userID, superuser: user.isSuperuser, repository, accounts) else { return nil }
        return repository
    }

    private static func mayWrite(userID: Int64, superuser: Bool, _ repository: Repository, _ accounts: AccountStore) async throws -> Bool {
        if superuser { return true }
        guard let role = try await accounts.role(userID: userID, repository: repository) else { return false }
        return role >= .write
    }
}
