import Crypto
import Foundation
import NIOSSL
import X509

/// A throwaway certificate authority with a server certificate for `localhost` and a client
/// certificate, made in memory for the local TLS servers.
struct TestPKI: Sendable {
    let authority: NIOSSLCertificate
    let server: NIOSSLCertificate
    let serverKey: NIOSSLPrivateKey
    let client: NIOSSLCertificate
    let clientKey: NIOSSLPrivateKey
    /// A certificate and key from a different, untrusted authority.
    let strangerClient: NIOSSLCertificate
    let strangerClientKey: NIOSSLPrivateKey
    /// PEM text of the authority, the client certificate and its key, for file-based settings.
    let authorityPEM: String
    let clientPEM: String
    let clientKeyPEM: String

    static let clientCommonName = "slipway-client"

    static func make() throws -> TestPKI {
        let (authority, authorityKey, authorityName) = try makeAuthority("Slipway Test CA")
        let (otherAuthority, otherKey, otherName) = try makeAuthority("Some Other CA")
        _ = otherAuthority
        let (server, serverKey) = try makeLeaf("localhost", serverAuth: true, issuer: authorityName, issuerKey: authorityKey)
        let (client, clientKey) = try makeLeaf(clientCommonName, serverAuth: false, issuer: authorityName, issuerKey: authorityKey)
        let (stranger, strangerKey) = try makeLeaf(clientCommonName, serverAuth: false, issuer: otherName, issuerKey: otherKey)
        return TestPKI(authority: try nio(authority), server: try nio(server), serverKey: try nio(serverKey),
                       client: try nio(client), clientKey: try nio(clientKey),
                       strangerClient: try nio(stranger), strangerClientKey: try nio(strangerKey),
                       authorityPEM: try authority.serializeAsPEM().pemString, clientPEM: try client.serializeAsPEM().pemString,
                       clientKeyPEM: clientKey.pemRepresentation)
    }

    /// A server context presenting the `localhost` certificate; with `requireClientCertificate`
    /// the handshake fails unless the client presents one this authority signed.
    func serverContext(requireClientCertificate: Bool) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: [.certificate(server)], privateKey: .privateKey(serverKey))
        if requireClientCertificate {
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .certificates([authority])
        }
        return try NIOSSLContext(configuration: configuration)
    }

    private static func makeAuthority(_ name: String) throws -> (Certificate, P256.Signing.PrivateKey, DistinguishedName) {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(name) }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: Date() - 3600, notValidAfter: Date() + 86_400, issuer: subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
            },
            issuerPrivateKey: .init(key))
        return (certificate, key, subject)
    }

    private static func makeLeaf(_ name: String, serverAuth: Bool, issuer: DistinguishedName,
                                 issuerKey: P256.Signing.PrivateKey) throws -> (Certificate, P256.Signing.PrivateKey) {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(name) }
        let extensions = serverAuth
            ? try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.dnsName(name)])
            }
            : try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                try ExtendedKeyUsage([.clientAuth])
            }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: Date() - 3600, notValidAfter: Date() + 86_400, issuer: issuer, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions, issuerPrivateKey: .init(issuerKey))
        return (certificate, key)
    }

    private static func nio(_ certificate: Certificate) throws -> NIOSSLCertificate {
        try NIOSSLCertificate(bytes: Array(certificate.serializeAsPEM().pemString.utf8), format: .pem)
    }

    private static func nio(_ key: P256.Signing.PrivateKey) throws -> NIOSSLPrivateKey {
        try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem)
    }
}
