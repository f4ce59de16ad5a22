import Crypto
import Foundation
import SlipwayCore

/// The instance's key for signing build provenance: ECDSA P-256, generated once per installation
/// and shared by every replica through `instance_keys`. Its public half is served (PEM) at
/// `GET /.well-known/slipway/attestation-key.pem`, so anyone can verify an attestation with
/// standard tools (openssl, cosign's `--key`, Python's cryptography).
public struct AttestationKey: Sendable {
    static let instanceKeyName = "attestation-signing-key"
    public static let publicKeyPath = "/.well-known/slipway/attestation-key.pem"

    let privateKey: P256.Signing.PrivateKey

    /// The installation's key, created on first use.
    public static func load(_ keys: InstanceKeys) async throws -> AttestationKey {
        let stored: String
        if let existing = try await keys.key(named: instanceKeyName) {
            stored = existing
        } else {
            stored = try await keys.storeIfAbsent(name: instanceKeyName, value: P256.Signing.PrivateKey().pemRepresentation)
        }
        return AttestationKey(privateKey: try P256.Signing.PrivateKey(pemRepresentation: stored))
    }

    public var publicKeyPEM: String { privateKey.publicKey.pemRepresentation }

    /// DSSE `keyid`: the SHA-256 of the public key's DER (SubjectPublicKeyInfo), hex.
    public var keyID: String {
        SHA256.hash(data: privateKey.publicKey.derRepresentation).map { String(format: "%02x", $0) }.joined()
    }

    /// An ASN.1 DER ECDSA signature over SHA-256 of `message` (what `openssl dgst -sha256 -verify` checks).
    func sign(_ message: Data) throws -> Data {
        try privateKey.signature(for: message).derRepresentation
    }
}
