import Accounts
import Hummingbird
import Mail
import Registry
import ServiceLifecycle

/// Repository notifications as a server module: the notification API, in-app notifications,
/// the e-mail confirmation page, the delivery service that reads the `repository_events`
/// outbox, and the sender of the registry's `mail_outbox`.
public struct NotificationsModule: SlipwayModule {
    let services: RegistryServices
    /// Notifications, their deliveries, in-app notifications and e-mail authorizations.
    public let store: NotificationStore
    /// The delivery service; tests drive it with `runOnce()`.
    public let dispatcher: NotificationDispatcher
    /// Sends queued mail (team invitations, log exports); tests drive it with `runOnce()`.
    public let mailSender: MailOutboxSender

    public init(services: RegistryServices) {
        self.services = services
        let store = NotificationStore(database: services.database, jobs: services.jobs, maxAttempts: services.config.notifications.maxAttempts)
        self.store = store
        self.dispatcher = NotificationDispatcher(services: services, store: store)
        self.mailSender = MailOutboxSender(services: services)
    }

    public func registerAPI(_ api: APIRoutes) {
        NotificationsAPI(services: services, store: store, dispatcher: dispatcher).register(api)
        UserNotificationsAPI(services: services, store: store).register(api)
    }

    public func teamInviteNotices() -> [any TeamInviteNotices] { [TeamInviteNotifications()] }

    public func identityNotices() -> [any IdentityNotices] { [IdentityNotifications(services: services)] }

    public func registerRoutes(_ router: Router<SlipwayRequestContext>) {
        EmailConfirmationRoute(services: services, store: store).register(router)
    }

    /// The dispatcher and the mail sender, unless `notifications.dispatchIntervalSeconds` is 0
    /// (another replica delivers).
    public func backgroundServices() -> [any Service] {
        services.config.notifications.dispatchIntervalSeconds > 0 ? [dispatcher, mailSender] : []
    }
}
