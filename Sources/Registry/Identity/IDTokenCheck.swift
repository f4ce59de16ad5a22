import Foundation

/// The checks of OpenID Connect Core §3.1.3.7 on an ID token whose signature already verified:
/// the issuer is the configured one, the audience is this client, it is unexpired, and its
/// `nonce` is the one this sign-in sent (a token minted for another request is refused).
public enum IDTokenCheck {
    /// Clock difference tolerated between the provider and Slipway.
    static let clockSkew: TimeInterval = 30

    public static func check(_ claims: OIDCTokenClaims, issuer: String, clientID: String, nonce: String,
                             now: Date = Date()) throws(OIDCFailure) {
        guard claims.issuer == issuer else { throw OIDCFailure(.mismatch, "the ID token was issued by another issuer") }
        guard claims.audiences.contains(clientID) else { throw OIDCFailure(.mismatch, "the ID token is not meant for this client (aud)") }
        // Several audiences: the token must say it was issued to us (`azp`).
        if claims.audiences.count > 1, claims.strings["azp"] != clientID {
            throw OIDCFailure(.mismatch, "the ID token was issued to another party (azp)")
        }
        guard let expiresAt = claims.expiresAt else { throw OIDCFailure(.malformed, "the ID token has no expiry (exp)") }
        guard expiresAt.addingTimeInterval(clockSkew) > now else { throw OIDCFailure(.expired, "the ID token has expired") }
        if let notBefore = claims.notBefore, notBefore > now.addingTimeInterval(clockSkew) {
            throw OIDCFailure(.notYetValid, "the ID token is not valid yet (nbf)")
        }
        guard let sent = claims.nonce, constantTimeEquals(sent, nonce) else {
            throw OIDCFailure(.mismatch, "the ID token's nonce does not match this sign-in")
        }
    }

    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
