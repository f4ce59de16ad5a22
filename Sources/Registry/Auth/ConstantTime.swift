import Crypto
import Foundation

/// Comparison of secrets (tokens, webhook secrets, signatures) that leaks neither content nor
/// length through timing: `==` on strings stops at the first differing byte.
public enum ConstantTime {
    /// Compares SHA-256 digests of both strings byte for byte, always all 32 bytes.
    public static func equal(_ a: String, _ b: String) -> Bool {
        let da = Array(SHA256.hash(data: Data(a.utf8)))
        let db = Array(SHA256.hash(data: Data(b.utf8)))
        var diff: UInt8 = 0
        for i in 0..<da.count { diff |= da[i] ^ db[i] }
        return diff == 0
    }
}
