/// Why an OIDC token was not accepted. The message is safe to show and to log: it never
/// contains the token.
public struct OIDCFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        /// Not a JWT, or its claims are unreadable.
        case malformed
        /// The issuer's discovery document or JWKS could not be fetched or read.
        case keysUnavailable
        /// No key of the issuer's JWKS verifies the signature.
        case badSignature
        case expired
        case notYetValid
        /// `iss`, `sub`, `aud` or a claim condition does not match.
        case mismatch
    }

    public let reason: Reason
    public let message: String

    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    public var description: String { message }
}
