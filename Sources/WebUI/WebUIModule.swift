import BuildOrchestrator
import Hummingbird
import Notifications
import Registry
import ScanService
import Triggers

/// The server-rendered web UI: pages at Quay's URLs, rendered from Mustache templates, calling
/// the same services as `/api/v1`. Pages only read; every change is made by the page's script
/// calling the `/api/v1` endpoint for it with the session's CSRF token, so the API's
/// permission checks and validation are the only ones.
public struct WebUIModule: SlipwayModule {
    let services: RegistryServices
    let buildFarm: BuildFarmModule
    let server: PageServer
    let assets: StaticAssets
    let notifier: IdentityNotifier

    /// `identityNotices`: who tells users about sign-ins linked to their accounts (the
    /// notifications module's `identityNotices()`).
    public init(services: RegistryServices, buildFarm: BuildFarmModule, triggers: TriggersModule, scans: ScanServiceModule,
                identityNotices: [any IdentityNotices] = []) {
        self.notifier = IdentityNotifier(services: services, sinks: identityNotices)
        self.services = services
        self.buildFarm = buildFarm
        let renderer: Result<PageRenderer, PageRenderer.LoadError>
        do {
            renderer = .success(try PageRenderer.bundled())
        } catch let error as PageRenderer.LoadError {
            renderer = .failure(error)
        } catch {
            renderer = .failure(.init(description: "\(error)"))
        }
        self.server = PageServer(services: services, builds: buildFarm.store, triggers: triggers.store, scans: scans.store, renderer: renderer)
        self.assets = StaticAssets.bundled()
    }

    public func registerRoutes(_ router: Router<SlipwayRequestContext>) {
        assets.register(router)
        SignInPages(server: server).register(router)
        SingleSignOnPages(server: server, notifier: notifier).register(router)
        SignUpPages(server: server).register(router)
        ExplorePage(server: server).register(router)
        RepositoryListPage(server: server).register(router)
        RepositoryPages(server: server).register(router)
        OrganizationListPage(server: server).register(router)
        UserPage(server: server).register(router)
        ConfirmInvitePage(server: server).register(router)
        SuperuserPage(server: server).register(router)
    }
}
