import Foundation
import NIOSSL
import Registry
import SlipwayCore

/// The TLS client context for outbound notification traffic (HTTPS webhooks, Slack, SMTP TLS):
/// system trust roots plus `notifications.trustRootsPath`, and the instance's client
/// certificate (`notifications.clientCertificatePath` + `clientKeyPath`) so HTTPS receivers can
/// verify a call came from this registry. Built once; a broken configuration makes every TLS
/// delivery fail with a message that names the setting rather than silently dropping the
/// certificate.
struct NotificationTLS: Sendable {
    let context: Result<NIOSSLContext, ConfigurationError>

    struct ConfigurationError: Error, CustomStringConvertible {
        let description: String
    }

    init(_ config: SlipwayConfig.Notifications) {
        context = Result { () throws(ConfigurationError) -> NIOSSLContext in
            var tls = TLSConfiguration.makeClientConfiguration()
            if !config.trustRootsPath.isEmpty {
                guard FileManager.default.isReadableFile(atPath: config.trustRootsPath) else {
                    throw ConfigurationError(description: "notifications.trustRootsPath '\(config.trustRootsPath)' cannot be read")
                }
                tls.additionalTrustRoots = [.file(config.trustRootsPath)]
            }
            let cert = config.clientCertificatePath, key = config.clientKeyPath
            if cert.isEmpty != key.isEmpty {
                throw ConfigurationError(description: "notifications.clientCertificatePath and notifications.clientKeyPath must be set together")
            }
            if !cert.isEmpty {
                do {
                    tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
                } catch {
                    throw ConfigurationError(description: "notifications.clientCertificatePath '\(cert)' is not a readable PEM certificate")
                }
                do {
                    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
                } catch {
                    throw ConfigurationError(description: "notifications.clientKeyPath '\(key)' is not a readable PEM private key")
                }
            }
            do {
                return try NIOSSLContext(configuration: tls)
            } catch {
                throw ConfigurationError(description: "the notification TLS configuration is invalid: \(error)")
            }
        }
    }
}
