import Crypto
import Foundation

/// Seals secrets that must be shown again later (robot tokens, deploy keys) with AES-256-GCM
/// under one instance key. The key is generated once and kept in `instance_keys`, so every
/// replica and every restart opens what another sealed.
///
/// Sealed values are `v1.<base64 of nonce ‖ ciphertext ‖ tag>`. A `context` string (for example
/// `robot:acme+ci`) is authenticated with the value, so a sealed secret copied into another row
/// does not open there.
public struct SecretBox: Sendable {
    public static let keyName = "secret-box-aes256"
    static let version = "v1."

    private let key: SymmetricKey

    public init(key: SymmetricKey) {
        precondition(key.bitCount == 256, "SecretBox needs a 256-bit key")
        self.key = key
    }

    /// Loads the instance key, creating it on first start.
    public static func load(keys: InstanceKeys) async throws -> SecretBox {
        let generated = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
        let stored = try await keys.storeIfAbsent(name: keyName, value: generated)
        guard let bytes = Data(base64Encoded: stored), bytes.count == 32 else {
            throw SecretBoxError.invalidKey
        }
        return SecretBox(key: SymmetricKey(data: bytes))
    }

    public func seal(_ plaintext: String, context: String) throws -> String {
        let box = try AES.GCM.seal(Data(plaintext.utf8), using: key, authenticating: Data(context.utf8))
        guard let combined = box.combined else { throw SecretBoxError.invalidSealedValue }
        return Self.version + combined.base64EncodedString()
    }

    public func open(_ sealed: String, context: String) throws -> String {
        guard sealed.hasPrefix(Self.version), let combined = Data(base64Encoded: String(sealed.dropFirst(Self.version.count))) else {
            throw SecretBoxError.invalidSealedValue
        }
        let box = try AES.GCM.SealedBox(combined: combined)
        let plain = try AES.GCM.open(box, using: key, authenticating: Data(context.utf8))
        guard let text = String(data: plain, encoding: .utf8) else { throw SecretBoxError.invalidSealedValue }
        return text
    }
}

public enum SecretBoxError: Error, Sendable {
    /// The stored instance key is not 32 bytes of base64.
    case invalidKey
    /// The value was not sealed by a `SecretBox` of this format.
    case invalidSealedValue
}
