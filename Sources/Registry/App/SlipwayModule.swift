import Accounts
import Hummingbird
import ServiceLifecycle
import SlipwayCore

/// A feature module that adds API resources, plain routes and background services to the server
/// (the build farm, triggers, the web UI). Modules live in targets that depend on `Registry`, so
/// the dependency direction stays `Registry ← BuildOrchestrator ← Triggers ← WebUI ← slipway`;
/// the executable (and the tests) hand the modules to `SlipwayApplication`.
public protocol SlipwayModule: Sendable {
    /// Registers `/api/v1` resources, each with its permission.
    func registerAPI(_ api: APIRoutes)
    /// Registers other routes (worker protocol, webhooks, pages).
    func registerRoutes(_ router: Router<SlipwayRequestContext>)
    /// Long-running services (queues, workers).
    func backgroundServices() -> [any Service]
    /// Passes of the collector that remove what the module owns (run by the background
    /// collector and `slipway admin gc`).
    func collectorPasses() -> [any CollectorPass]
    /// What the module keeps in blob storage, asked before other modules' collectors delete
    /// bytes at a digest it may share.
    func blobOwners() -> [any BlobOwner]
    /// What the module does when a repository is deleted.
    func repositoryDeletionObservers() -> [any RepositoryDeletionObserver]
    /// What the module records, in the storing transaction, when a manifest is stored.
    func manifestStoredObservers() -> [any ManifestStoredObserver]
    /// How the module shows team invitations to their invitees (in-app notifications).
    func teamInviteNotices() -> [any TeamInviteNotices]
    /// Who tells people about changes to how their accounts and robots are reached (linked
    /// sign-ins, robot federation): in-app notifications and mail.
    func identityNotices() -> [any IdentityNotices]
    /// Names (and log levels) for the plain routes this module registers, for the request
    /// metrics and log lines; an unnamed route is counted as `other`.
    func observedRoutes() -> [ObservedRoute]
    /// Checks the module adds to `GET /health/instance`.
    func healthContributors() -> [any HealthContributor]
}

extension SlipwayModule {
    public func registerAPI(_ api: APIRoutes) {}
    public func registerRoutes(_ router: Router<SlipwayRequestContext>) {}
    public func backgroundServices() -> [any Service] { [] }
    public func collectorPasses() -> [any CollectorPass] { [] }
    public func blobOwners() -> [any BlobOwner] { [] }
    public func repositoryDeletionObservers() -> [any RepositoryDeletionObserver] { [] }
    public func manifestStoredObservers() -> [any ManifestStoredObserver] { [] }
    public func teamInviteNotices() -> [any TeamInviteNotices] { [] }
    public func identityNotices() -> [any IdentityNotices] { [] }
    public func observedRoutes() -> [ObservedRoute] { [] }
    public func healthContributors() -> [any HealthContributor] { [] }
}
