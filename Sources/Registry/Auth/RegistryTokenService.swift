import Accounts
import Crypto
import Foundation
import JWTKit
import SlipwayCore
import Synchronization

/// Claims of the registry bearer tokens issued by `GET /v2/auth`, in the Docker token format.
public struct RegistryTokenClaims: JWTPayload, Equatable {
    public struct Access: Codable, Sendable, Equatable {
        public var type: String
        public var name: String
        public var actions: [String]
    }

    public struct Context: Codable, Sendable, Equatable {
        public var version: Int
        public var entity_kind: String
        public var entity_reference: String?
    }

    public var iss: IssuerClaim
    public var sub: SubjectClaim
    public var aud: AudienceClaim
    public var exp: ExpirationClaim
    public var nbf: NotBeforeClaim
    public var iat: IssuedAtClaim
    public var jti: IDClaim
    public var access: [Access]
    public var context: Context

    public func verify(using algorithm: some JWTAlgorithm) async throws {
        // 30 s of clock skew between replicas, as Quay allows.
        try exp.verifyNotExpired(currentDate: Date().addingTimeInterval(-30))
        try nbf.verifyNotBefore(currentDate: Date().addingTimeInterval(30))
    }

    /// Actions granted on the repository named `name` exactly as requested in the scope.
    public func actions(for name: String) -> Set<RegistryAction> {
        var out = Set<RegistryAction>()
        for entry in access where entry.type == "repository" && entry.name == name {
            for a in entry.actions { if let action = RegistryAction(rawValue: a) { out.insert(action) } }
        }
        return out
    }

    public var allowsCatalog: Bool {
        access.contains { $0.type == "registry" && $0.name == "catalog" }
    }
}

/// Issues and verifies registry tokens with the instance's ES256 key. The key is generated once
/// and stored in the metadata store, so every replica and every restart signs with the same key.
public struct RegistryTokenService: Sendable {
    public static let issuer = "slipway"
    private let keys: JWTKeyCollection
    private let kid: JWKIdentifier
    public let lifetime: TimeInterval
    /// Tokens already verified, so a client reusing its token for hundreds of requests pays for
    /// one signature check. Entries are re-checked for expiry and audience on every use.
    private let verified = VerifiedTokenCache(capacity: 10_000)

    public init(keys instanceKeys: InstanceKeys, lifetimeSeconds: Int) async throws {
        let generated = ES256PrivateKey()
        let pem = try await instanceKeys.storeIfAbsent(name: "registry-token-es256", value: generated.pemRepresentation)
        let key = try ES256PrivateKey(pem: pem)
        // A short, stable key id derived from the public key.
        let publicPEM = key.publicKey.pemRepresentation
        let kid = JWKIdentifier(string: String(SHA256.hash(data: Data(publicPEM.utf8)).hexString.prefix(16)))
        self.keys = JWTKeyCollection()
        await keys.add(ecdsa: key, kid: kid)
        self.kid = kid
        self.lifetime = TimeInterval(lifetimeSeconds)
    }

    public func issue(identity: Identity, audience: String, access: [RegistryTokenClaims.Access]) async throws -> (token: String, expiresIn: Int, issuedAt: Date) {
        let now = Date()
        let claims = RegistryTokenClaims(
            iss: .init(value: Self.issuer), sub: .init(value: identity.subject), aud: .init(value: [audience]),
            exp: .init(value: now.addingTimeInterval(lifetime)), nbf: .init(value: now.addingTimeInterval(-1)), iat: .init(value: now),
            jti: .init(value: UUID().uuidString), access: access,
            context: .init(version: 2, entity_kind: identity.entityKind, entity_reference: identity.userID.map(String.init)))
        let token = try await keys.sign(claims, kid: kid)
        return (token, Int(lifetime), now)
    }

    /// Verifies signature, lifetime, issuer and audience. Throws on any mismatch.
    public func verify(_ token: String, audience: String) async throws -> RegistryTokenClaims {
        if let cached = verified.get(token), cached.exp.value > Date().addingTimeInterval(-30) {
            try cached.aud.verifyIntendedAudience(includes: audience)
            return cached
        }
        let claims = try await keys.verify(token, as: RegistryTokenClaims.self)
        guard claims.iss.value == Self.issuer else { throw JWTError.claimVerificationFailure(failedClaim: claims.iss, reason: "issuer") }
        verified.put(token, claims)
        try claims.aud.verifyIntendedAudience(includes: audience)
        return claims
    }
}

/// A bounded map of verified tokens. When full it is simply cleared: tokens are short-lived and
/// re-verifying one is cheap, so no eviction order is worth keeping.
final class VerifiedTokenCache: Sendable {
    private let entries = Mutex<[String: RegistryTokenClaims]>([:])
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func get(_ token: String) -> RegistryTokenClaims? { entries.withLock { $0[token] } }

    func put(_ token: String, _ claims: RegistryTokenClaims) {
        entries.withLock { map in
            if map.count >= capacity { map.removeAll(keepingCapacity: true) }
            map[token] = claims
        }
    }
}
