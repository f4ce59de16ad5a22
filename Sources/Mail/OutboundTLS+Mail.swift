import OutboundHTTP
import SlipwayCore

extension OutboundTLS {
    /// The TLS client context for outbound notification traffic (SMTP TLS, HTTPS webhooks, Slack):
    /// system trust roots plus `notifications.trustRootsPath`, and the instance's client
    /// certificate (`notifications.clientCertificatePath` + `clientKeyPath`) so HTTPS receivers
    /// can verify a call came from this registry.
    public init(notifications config: SlipwayConfig.Notifications) {
        self.init(OutboundTLS.Files(section: "notifications", label: "notification", trustRootsPath: config.trustRootsPath,
                                    clientCertificatePath: config.clientCertificatePath, clientKeyPath: config.clientKeyPath))
    }
}
