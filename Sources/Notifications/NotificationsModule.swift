import Hummingbird
import Registry
import ServiceLifecycle

/// Repository notifications as a server module: the notification API, in-app notifications,
/// and the delivery service that reads the `repository_events` outbox.
public struct NotificationsModule: SlipwayModule {
    let services: RegistryServices

    public init(services: RegistryServices) {
        self.services = services
    }

    public func registerAPI(_ api: APIRoutes) {}

    public func backgroundServices() -> [any Service] { [] }
}
