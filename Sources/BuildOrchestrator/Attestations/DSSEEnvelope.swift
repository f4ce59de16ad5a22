import Foundation

/// A Dead Simple Signing Envelope (DSSE v1): what in-toto attestations are signed in. The
/// signature covers the pre-authentication encoding `PAE(type, body)`, never the JSON around it,
/// so verifying needs only the payload, its type and the public key.
struct DSSEEnvelope: Codable, Sendable {
    struct Signature: Codable, Sendable {
        let keyid: String
        let sig: String
    }

    static let mediaType = "application/vnd.dsse.envelope.v1+json"

    let payloadType: String
    let payload: String
    let signatures: [Signature]

    /// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal bytes.
    static func preAuthenticationEncoding(payloadType: String, payload: Data) -> Data {
        var out = Data("DSSEv1 \(payloadType.utf8.count) \(payloadType) \(payload.count) ".utf8)
        out.append(payload)
        return out
    }

    static func signed(_ payload: Data, payloadType: String, key: AttestationKey) throws -> DSSEEnvelope {
        let signature = try key.sign(preAuthenticationEncoding(payloadType: payloadType, payload: payload))
        return DSSEEnvelope(payloadType: payloadType, payload: payload.base64EncodedString(),
                            signatures: [Signature(keyid: key.keyID, sig: signature.base64EncodedString())])
    }
}
