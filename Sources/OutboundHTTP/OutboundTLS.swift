import Foundation
import NIOSSL

/// The TLS client context of outbound calls: the system's trust roots, plus extra trust roots
/// (a private CA) and a client certificate when configured, so HTTPS receivers can verify that a
/// call came from this installation.
///
/// Built once per configuration. A broken configuration is kept as a failure rather than thrown
/// at start-up: every HTTPS call then fails with a message that names the setting, instead of
/// silently going out without the certificate.
public struct OutboundTLS: Sendable {
    public let context: Result<NIOSSLContext, ConfigurationError>

    public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// PEM files named by configuration keys; empty paths are unset. `section` prefixes the key
    /// names in error messages (`notifications` → `notifications.trustRootsPath`); `label` names
    /// the traffic (`notification`).
    public struct Files: Sendable {
        public var section: String
        public var label: String
        public var trustRootsPath: String
        public var clientCertificatePath: String
        public var clientKeyPath: String

        public init(section: String, label: String, trustRootsPath: String = "", clientCertificatePath: String = "",
                    clientKeyPath: String = "") {
            self.section = section
            self.label = label
            self.trustRootsPath = trustRootsPath
            self.clientCertificatePath = clientCertificatePath
            self.clientKeyPath = clientKeyPath
        }
    }

    /// System trust roots only, no client certificate (built once per process).
    public static let systemRoots = OutboundTLS(trustRoots: [], clientCertificateChain: [], privateKey: nil)

    public init(_ files: Files) {
        context = Result { () throws(ConfigurationError) -> NIOSSLContext in
            var tls = TLSConfiguration.makeClientConfiguration()
            let key = { (name: String) in "\(files.section).\(name)" }
            if !files.trustRootsPath.isEmpty {
                guard FileManager.default.isReadableFile(atPath: files.trustRootsPath) else {
                    throw ConfigurationError("\(key("trustRootsPath")) '\(files.trustRootsPath)' cannot be read")
                }
                tls.additionalTrustRoots = [.file(files.trustRootsPath)]
            }
            let cert = files.clientCertificatePath, privateKey = files.clientKeyPath
            if cert.isEmpty != privateKey.isEmpty {
                throw ConfigurationError("\(key("clientCertificatePath")) and \(key("clientKeyPath")) must be set together")
            }
            if !cert.isEmpty {
                do {
                    tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
                } catch {
                    throw ConfigurationError("\(key("clientCertificatePath")) '\(cert)' is not a readable PEM certificate")
                }
                do {
                    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: privateKey, format: .pem))
                } catch {
                    throw ConfigurationError("\(key("clientKeyPath")) '\(privateKey)' is not a readable PEM private key")
                }
            }
            do {
                return try NIOSSLContext(configuration: tls)
            } catch {
                throw ConfigurationError("the \(files.label) TLS configuration is invalid: \(error)")
            }
        }
    }

    /// Trust roots and client certificate given as values (tests, or callers that hold them).
    public init(trustRoots: [NIOSSLCertificate], clientCertificateChain: [NIOSSLCertificate], privateKey: NIOSSLPrivateKey?) {
        context = Result { () throws(ConfigurationError) -> NIOSSLContext in
            var tls = TLSConfiguration.makeClientConfiguration()
            if !trustRoots.isEmpty { tls.additionalTrustRoots = [.certificates(trustRoots)] }
            if let privateKey {
                tls.certificateChain = clientCertificateChain.map { .certificate($0) }
                tls.privateKey = .privateKey(privateKey)
            }
            do {
                return try NIOSSLContext(configuration: tls)
            } catch {
                throw ConfigurationError("the TLS configuration is invalid: \(error)")
            }
        }
    }
}
