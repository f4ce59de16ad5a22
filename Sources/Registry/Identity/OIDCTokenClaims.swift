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
    /// Every claim that is an array of strings (a provider's `groups`, an `aud` list).
    public let stringLists: [String: [String]]

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        var strings: [String: String] = [:]
        var lists: [String: [String]] = [:]
        for key in c.allKeys {
            if let value = try? c.decode(String.self, forKey: key) {
                strings[key.stringValue] = value
            } else if let values = try? c.decode([String].self, forKey: key) {
                lists[key.stringValue] = values
            }
        }
        stringLists = lists
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
        for (key, values) in stringLists { try c.encode(values, forKey: AnyKey(stringValue: key)) }
    }

    /// A claim read as a list of names: a JSON array of strings, or one string (providers that
    /// put a single group as a plain string). Nil when the token does not carry it.
    public func names(_ claim: String) -> [String]? {
        if let list = stringLists[claim] { return list }
        return strings[claim].map { [$0] }
    }

    /// Signature only; lifetime, issuer and audience are the verifier's business.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}
