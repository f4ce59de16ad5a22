import Crypto
import Foundation

/// Proof Key for Code Exchange (RFC 7636) with the S256 method, and the random values of an
/// authorization request (`state`, `nonce`, the verifier).
public enum PKCE {
    /// `BASE64URL(SHA256(ASCII(verifier)))` (RFC 7636 §4.2).
    public static func challenge(for verifier: String) -> String {
        Base64URL.encode(Data(SHA256.hash(data: Data(verifier.utf8))))
    }

    /// 43 characters from the unreserved set (RFC 7636 §4.1 asks for 43-128): 256 bits.
    public static func randomValue() -> String {
        var rng = SystemRandomNumberGenerator()
        return Base64URL.encode(Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }))
    }
}

extension Base64URL {
    static func encode(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
