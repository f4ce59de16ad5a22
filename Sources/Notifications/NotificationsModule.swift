import Hummingbird
import Registry
import ServiceLifecycle

/// Repository notifications as a server module: the notification API, in-app notifications,
/// the e-mail confirmation page, and the delivery service that reads the `repository_events`
/// outbox.
public struct NotificationsModule: SlipwayModule {
    let services: RegistryServices
    /// The delivery service; tests drive it with `runOnce()`.
    public let dispatcher: NotificationDispatcher

    public init(services: RegistryServices) {
        self.services = services
        self.dispatcher = NotificationDispatcher(services: services)
    }

    public func registerAPI(_ api: APIRoutes) {
        NotificationsAPI(services: services, dispatcher: dispatcher).register(api)
        UserNotificationsAPI(services: services).register(api)
    }

    public func registerRoutes(_ router: Router<SlipwayRequestContext>) {
        EmailConfirmationRoute(services: services).register(router)
    }

    /// The dispatcher, unless `notifications.dispatchIntervalSeconds` is 0.
    public func backgroundServices() -> [any Service] {
        services.config.notifications.dispatchIntervalSeconds > 0 ? [dispatcher] : []
    }
}
