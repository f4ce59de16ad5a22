import Foundation
import JWTKit

/// The claims of an ID or access token an OpenID Connect provider signed. Standard claims are
/// typed; every string-valued claim is also kept by name, for federation claim conditions
/// (GitHub Actions' `repository`, `ref`, ...). Times are checked by `OIDCTokenVerifier`
/// against its own clock, not here.
public struct OIDCTokenClaims: JWTPayload, Equatable {
    public let issuer: String
    public let subject: String
    public let audiences: [String]
    public let expiresAt: Date?
    public let notBefore: Date?
    public let nonce: String?
    public let strings: [String: String]

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        var strings: [String: String] = [:]
        for key in c.allKeys {
            if let value = try? c.decode(String.self, forKey: key) { strings[key.stringValue] = value }
        }
        guard let issuer = strings["iss"], let subject = strings["sub"] else {
            throw JWTError.claimVerificationFailure(failedClaim: nil, reason: "the token has no iss or sub")
        }
        self.issuer = issuer
        self.subject = subject
        // `aud` is a string or an array of strings (RFC 7519 §4.1.3).
        if let one = strings["aud"] {
            audiences = [one]
        } else {
            audiences = (try? c.decode([String].self, forKey: AnyKey(stringValue: "aud"))) ?? []
        }
        func time(_ name: String) -> Date? {
            (try? c.decode(Double.self, forKey: AnyKey(stringValue: name))).map { Date(timeIntervalSince1970: $0) }
        }
        expiresAt = time("exp")
        notBefore = time("nbf")
        nonce = strings["nonce"]
        self.strings = strings
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        for (key, value) in strings { try c.encode(value, forKey: AnyKey(stringValue: key)) }
    }

    /// Signature only; lifetime, issuer and audience are the verifier's business.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}
