import Hummingbird
import Registry
import SlipwayCore

/// `GET /.well-known/slipway/attestation-key.pem`: the public key that verifies the provenance
/// this instance signs (PEM, SubjectPublicKeyInfo). Public, like any verification key: no
/// authentication, nothing secret.
struct AttestationKeyEndpoint: Sendable {
    let services: RegistryServices

    func register(_ router: Router<SlipwayRequestContext>) {
        router.get(RouterPath(AttestationKey.publicKeyPath)) { _, _ in
            let key = try await AttestationKey.load(InstanceKeys(database: services.database))
            return Response(status: .ok, headers: [.contentType: "application/x-pem-file", .cacheControl: "public, max-age=300"],
                            body: .init(byteBuffer: ByteBuffer(string: key.publicKeyPEM + "\n")))
        }
    }
}
