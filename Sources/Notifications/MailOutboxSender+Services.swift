import Audit
import Mail
import Registry
import SlipwayCore

extension MailOutboxSender {
    /// The sender of `slipway serve`: the registry's outbox and job queue, the configured mail
    /// server (or `smtp` instead: tests point one sender at a dead port and another at a live
    /// one), and the log exports' listener for the outcome of their mail.
    public convenience init(services: RegistryServices, settings: Settings? = nil, smtp: SlipwayConfig.Notifications? = nil) {
        self.init(outbox: services.mail, jobs: services.jobs, smtp: smtp ?? services.config.notifications, settings: settings,
                  listeners: [LogExportMailOutcome()], logger: services.logger)
    }
}
