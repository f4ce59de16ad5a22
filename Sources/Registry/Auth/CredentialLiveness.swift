import Accounts
import SlipwayCore
import Synchronization

/// Re-checks, every few seconds per credential, that the identity behind an already-issued
/// registry token still exists: deleting a user, robot or delegate token cuts off its registry
/// access within `ttl`, not when the JWT expires.
public final class CredentialLiveness: Sendable {
    private let accounts: AccountStore
    private let ttlMillis: Int64
    private let cache = Mutex<[String: (alive: Bool, checkedAt: Int64)]>([:])

    public init(accounts: AccountStore, ttlMillis: Int64 = 5_000) {
        self.accounts = accounts
        self.ttlMillis = ttlMillis
    }

    public func isAlive(_ claims: RegistryTokenClaims) async throws -> Bool {
        let key: String
        let check: @Sendable () async throws -> Bool
        if let ref = claims.context.entity_reference, let id = Int64(ref) {
            key = "ns:\(id)"
            check = { [accounts] in try await accounts.namespaceExists(id: id) }
        } else if claims.context.entity_kind == "token", claims.sub.value.hasPrefix("$token:") {
            let uuid = String(claims.sub.value.dropFirst("$token:".count))
            key = "tok:\(uuid)"
            check = { [accounts] in try await accounts.repositoryTokenExists(uuid: uuid) }
        } else {
            return true  // anonymous: nothing to revoke
        }
        let now = Clock.nowMillis()
        if let hit = cache.withLock({ $0[key] }), now - hit.checkedAt < ttlMillis { return hit.alive }
        let alive = try await check()
        cache.withLock { map in
            if map.count > 50_000 { map.removeAll(keepingCapacity: true) }
            map[key] = (alive, now)
        }
        return alive
    }
}
