import Foundation
import JWTKit
import Logging
import OutboundHTTP

/// The signing keys of OpenID Connect issuers, fetched on demand and cached.
///
/// An issuer's keys come from its discovery document (`<issuer>/.well-known/openid-configuration`,
/// whose `issuer` must equal the configured one) and the `jwks_uri` it names, both through the
/// outbound client and its SSRF gate. Only issuers an admin configured are ever fetched: callers
/// look the issuer up in their own configuration before asking.
///
/// Rotation: a token signed with a `kid` the cached set does not have triggers one refetch, at
/// most once per `refetchInterval` per issuer, so a stream of tokens with made-up key ids cannot
/// turn Slipway into a request amplifier. Cached sets are also refreshed after `maxAge`.
public actor OIDCKeySets {
    struct KeySet {
        let keys: JWTKeyCollection
        let kids: Set<String>
        let endpoints: OIDCEndpoints
        let fetchedAt: Date
    }

    struct Discovery: Decodable {
        let issuer: String
        let jwks_uri: String
        let authorization_endpoint: String?
        let token_endpoint: String?
        let userinfo_endpoint: String?
    }

    /// Also the client of the other calls to configured issuers (the sign-in's token request).
    nonisolated let http: OutboundHTTPClient
    private let refetchInterval: TimeInterval
    private let maxAge: TimeInterval
    private let now: @Sendable () -> Date
    private let logger: Logger
    private var sets: [String: KeySet] = [:]

    public init(http: OutboundHTTPClient, refetchInterval: TimeInterval = 30, maxAge: TimeInterval = 3600,
                now: @escaping @Sendable () -> Date = Date.init, logger: Logger) {
        self.http = http
        self.refetchInterval = refetchInterval
        self.maxAge = maxAge
        self.now = now
        self.logger = logger
    }

    /// Verifies the token's signature against `issuer`'s keys and returns its claims (times,
    /// issuer and audience not yet checked).
    public func verifySignature(_ token: String, issuer: String) async throws(OIDCFailure) -> OIDCTokenClaims {
        let kid = Self.keyID(of: token)
        var set = try await keySet(issuer: issuer)
        if let kid, !set.kids.contains(kid), now().timeIntervalSince(set.fetchedAt) >= refetchInterval {
            // A key we have not seen: the issuer may have rotated.
            set = try await fetch(issuer: issuer)
        }
        do {
            // Without a `kid` (some issuers sign with their only key) every key is tried.
            return try await set.keys.verify(token, as: OIDCTokenClaims.self, iteratingKeys: kid == nil)
        } catch {
            throw OIDCFailure(.badSignature, "the token's signature does not verify with the issuer's keys")
        }
    }

    /// The issuer's authorization and token endpoints (web sign-in), from the same cached
    /// discovery document as its keys.
    public func endpoints(issuer: String) async throws(OIDCFailure) -> OIDCEndpoints {
        try await keySet(issuer: issuer).endpoints
    }

    private func keySet(issuer: String) async throws(OIDCFailure) -> KeySet {
        if let cached = sets[issuer], now().timeIntervalSince(cached.fetchedAt) < maxAge { return cached }
        return try await fetch(issuer: issuer)
    }

    private func fetch(issuer: String) async throws(OIDCFailure) -> KeySet {
        let base = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        let discovery: Discovery = try await getJSON(base + "/.well-known/openid-configuration", what: "discovery document")
        guard discovery.issuer == issuer else {
            throw OIDCFailure(.keysUnavailable, "the issuer's discovery document names another issuer")
        }
        let jwks: JWKS = try await getJSON(discovery.jwks_uri, what: "JWKS")
        let keys = JWTKeyCollection()
        var kids = Set<String>()
        for jwk in jwks.keys {
            // Keys this library cannot use (encryption keys, unknown types) are skipped.
            guard let kid = jwk.keyIdentifier, (try? await keys.add(jwk: jwk, isDefault: jwks.keys.count == 1 ? true : nil)) != nil else { continue }
            kids.insert(kid.string)
        }
        let endpoints = OIDCEndpoints(authorization: discovery.authorization_endpoint, token: discovery.token_endpoint,
                                      userinfo: discovery.userinfo_endpoint)
        let set = KeySet(keys: keys, kids: kids, endpoints: endpoints, fetchedAt: now())
        sets[issuer] = set
        logger.info("oidc keys fetched", metadata: ["oidc.issuer": "\(issuer)", "oidc.keys": "\(kids.count)"])
        return set
    }

    private func getJSON<T: Decodable>(_ url: String, what: String) async throws(OIDCFailure) -> T {
        let fetched: OutboundHTTPClient.Fetched
        do {
            fetched = try await http.fetch(url, maxBytes: 256 * 1024)
        } catch {
            logger.warning("oidc fetch failed", metadata: ["url": "\(url)", "error": "\(error)"])
            throw OIDCFailure(.keysUnavailable, "the issuer's \(what) could not be fetched")
        }
        guard fetched.status == 200 else {
            logger.warning("oidc fetch refused", metadata: ["url": "\(url)", "status": "\(fetched.status)"])
            throw OIDCFailure(.keysUnavailable, "the issuer's \(what) could not be fetched (HTTP \(fetched.status))")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(fetched.body))
        } catch {
            throw OIDCFailure(.keysUnavailable, "the issuer's \(what) is not valid")
        }
    }

    /// The `kid` of the token's header, read without trusting it (it only picks a key).
    static func keyID(of token: String) -> String? {
        guard let header = token.split(separator: ".", omittingEmptySubsequences: false).first,
              let data = Base64URL.decode(String(header)),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return object["kid"] as? String
    }

    /// The claims of the token, unverified: which issuer to ask is read from the token itself,
    /// then everything is checked against that issuer's keys.
    public static func unverifiedClaims(_ token: String) throws(OIDCFailure) -> OIDCTokenClaims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = Base64URL.decode(String(parts[1])),
              let claims = try? JSONDecoder().decode(OIDCTokenClaims.self, from: data) else {
            throw OIDCFailure(.malformed, "the token is not a JWT with iss and sub claims")
        }
        return claims
    }
}

/// Where a browser is sent to sign in, and where the code it brings back is redeemed. Either
/// may be missing from a discovery document (an issuer that only signs CI tokens).
public struct OIDCEndpoints: Sendable, Equatable {
    public let authorization: String?
    public let token: String?
    /// Where the groups claim is read when the ID token does not carry it (team sync).
    public let userinfo: String?
}

/// base64url without padding (RFC 7515 §2).
enum Base64URL {
    static func decode(_ text: String) -> Data? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s)
    }
}
