import Crypto
import Foundation
import SlipwayCore
import Synchronization

/// Signed, expiring links to exported files: `<origin>/api/v1/exportedlogs/<id>?token=<exp>.<mac>`
/// where `mac` = HMAC-SHA256(instance key, "exportedlogs:<id>:<exp>"). The key is generated once
/// per installation and shared by replicas through `instance_keys`.
public final class LogExportLinks: Sendable {
    static let keyName = "log-export-links-hmac"
    private let keys: InstanceKeys
    private let cached = Mutex<SymmetricKey?>(nil)

    public init(keys: InstanceKeys) {
        self.keys = keys
    }

    func key() async throws -> SymmetricKey {
        if let key = cached.withLock({ $0 }) { return key }
        let generated = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
        let stored = try await keys.storeIfAbsent(name: Self.keyName, value: generated)
        guard let bytes = Data(base64Encoded: stored), bytes.count == 32 else { throw LinkKeyInvalid() }
        let key = SymmetricKey(data: bytes)
        cached.withLock { $0 = key }
        return key
    }

    struct LinkKeyInvalid: Error {}

    static func message(_ exportID: String, _ expiresAt: Int64) -> Data { Data("exportedlogs:\(exportID):\(expiresAt)".utf8) }

    /// The token part of a link valid until `expiresAt` (epoch seconds).
    public func token(exportID: String, expiresAt: Int64) async throws -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Self.message(exportID, expiresAt), using: try await key())
        return "\(expiresAt).\(Self.base64URL(Data(mac)))"
    }

    public func url(origin: String, exportID: String, expiresAt: Int64) async throws -> String {
        "\(origin)/api/v1/exportedlogs/\(exportID)?token=\(try await token(exportID: exportID, expiresAt: expiresAt))"
    }

    /// True when `token` was minted for `exportID` and has not expired.
    public func verify(exportID: String, token: String, now: Int64 = Clock.nowMillis()) async throws -> Bool {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count <= 12, let expiresAt = Int64(parts[0]), expiresAt > now / 1000,
              let mac = Self.fromBase64URL(String(parts[1])), mac.count == 32,
              Self.base64URL(mac) == parts[1] else { return false }  // one spelling per token
        return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Self.message(exportID, expiresAt), using: try await key())
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func fromBase64URL(_ text: String) -> Data? {
        guard text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2d || $0 == 0x5f })
        else { return nil }
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s)
    }
}
