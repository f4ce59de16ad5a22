import Accounts
import Audit
import Foundation
import Hummingbird
import Logging
import NIOCore
import ObjectStorage
import ServiceLifecycle
import SlipwayCore

/// Builds the whole server from a configuration: storage, metadata store, token service and the
/// HTTP routes. `slipway serve` and the tests both go through here.
public enum SlipwayApplication {
    public struct Built: Sendable {
        public let services: RegistryServices
        public let bootstrap: Bootstrap.Result
    }

    /// Builds the services over an open, migrated database and runs first-start set-up. The
    /// caller opened the database and closes it. `jobClock` is where the job queues read the
    /// time (tests move it forward instead of sleeping).
    public static func makeServices(config: SlipwayConfig, database: any Database,
                                    environment: [String: String] = ProcessInfo.processInfo.environment,
                                    jobClock: JobClock = .system, logger: Logger) async throws -> Built {
        Observability.bootstrap()
        let jobs = try JobQueueDrivers.driver(for: database, clock: jobClock, logger: logger)
        let store = MetadataStore(database: database)
        let accounts = AccountStore(database: database, jobs: jobs)
        let auditStore = AuditStore(database: database, jobs: jobs)
        let storage = try await BlobStorageFactory.make(config: config, logger: logger)
        let hasher = PasswordHasher(cost: config.auth.bcryptCost)
        let tokens = try await RegistryTokenService(keys: InstanceKeys(database: database), lifetimeSeconds: config.auth.tokenLifetimeSeconds)
        let secretBox = try await SecretBox.load(keys: InstanceKeys(database: database))
        let boot = try await Bootstrap.run(accounts: accounts, hasher: hasher, environment: environment, logger: logger)
        // `auth.superUsers` decides who is superuser; the stored flag follows it at every start.
        try await accounts.applyConfiguredSuperusers(config.auth.superUsers)
        let services = RegistryServices(config: config, store: store, accounts: accounts, auditStore: auditStore, storage: storage, tokens: tokens,
                                        hasher: hasher, secretBox: secretBox, jobs: jobs, logger: logger)
        return Built(services: services, bootstrap: boot)
    }

    public static func router(services: RegistryServices, modules: [any SlipwayModule] = []) -> Router<SlipwayRequestContext> {
        let router = Router(context: SlipwayRequestContext.self)
        router.add(middleware: RequestObservationMiddleware(routes: modules.flatMap { $0.observedRoutes() }))
        let v2 = V2Handler(services: services, manifestObservers: modules.flatMap { $0.manifestStoredObservers() })
        let v2Methods: [HTTPRequest.Method] = [.get, .head, .put, .post, .patch, .delete]
        for path in ["/v2", "/v2/**"] {
            for method in v2Methods {
                router.on(RouterPath(path), method: method) { request, context in
                    await v2.handle(request, context: context)
                }
            }
        }
        let api = apiRoutes(services: services, modules: modules)
        api.install(on: router)
        for module in modules { module.registerRoutes(router) }
        DockerV1Search(services: services).register(on: router)
        RobotFederationExchange(services: services, notifier: identityNotifier(services, modules)).register(on: router)
        router.get("/csrf_token") { request, _ in
            let caller = try? await APIAuthenticator(services: services).caller(request)
            return APIResponse.json(["csrf_token": caller?.csrfToken ?? ""])
        }
        let health = HealthCheck(services: services, contributors: modules.flatMap { $0.healthContributors() })
        router.get("/health/instance") { _, _ in await health.response() }
        router.get("/metrics") { _, _ in
            if let n = try? await services.store.uploadsInProgress() {
                services.metrics.uploadsInProgress.record(n)
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: Observability.render()))
        }
        return router
    }

    /// Every collector pass: the OCI core's, the purge of deleted repositories, the modules',
    /// and last the deletion of bytes no owner holds any more. The background collector and
    /// `slipway admin gc` run these.
    public static func collectorPasses(services: RegistryServices, modules: [any SlipwayModule] = []) -> [any CollectorPass] {
        [TagCollectorPass(services: services), RepositoryPurgePass(accounts: services.accounts), BlobCollectorPass(services: services)]
            + modules.flatMap { $0.collectorPasses() }
            + [blobDeletionPass(services: services, modules: modules)]
            + storagePasses(services.storage)
    }

    /// The storage driver's own housekeeping (S3: abandoned multipart uploads).
    static func storagePasses(_ storage: any BlobStorageDriver) -> [any CollectorPass] {
        guard let s3 = storage as? S3BlobStorage else { return [] }
        return [StaleMultipartUploadPass(storage: s3)]
    }

    /// Deletes tombstoned bytes once no owner of stored bytes (the OCI core, log exports, the
    /// modules' owners) references them.
    public static func blobDeletionPass(services: RegistryServices, modules: [any SlipwayModule] = []) -> BlobDeletionPass {
        let owners: [any BlobOwner] = [OCIBlobOwner(), LogExportBlobOwner()] + modules.flatMap { $0.blobOwners() }
        return BlobDeletionPass(tombstones: services.tombstones, storage: services.storage, owners: owners)
    }

    /// The collector over every pass.
    public static func collector(services: RegistryServices, modules: [any SlipwayModule] = [], settings: CollectorSettings) -> Collector {
        Collector(passes: collectorPasses(services: services, modules: modules), settings: settings, logger: services.logger)
    }

    /// The background collector, unless disabled (`gc.intervalSeconds: 0`).
    static func collectors(_ services: RegistryServices, modules: [any SlipwayModule]) -> [any Service] {
        guard services.config.gc.intervalSeconds > 0 else { return [] }
        return [collector(services: services, modules: modules, settings: CollectorSettings(config: services.config))]
    }

    /// Identity notices go to every module that keeps them (the notifications module).
    static func identityNotifier(_ services: RegistryServices, _ modules: [any SlipwayModule]) -> IdentityNotifier {
        IdentityNotifier(services: services, sinks: modules.flatMap { $0.identityNotices() })
    }

    /// Every `/api/v1` route, each registered with the permission it needs.
    public static func apiRoutes(services: RegistryServices, modules: [any SlipwayModule] = []) -> APIRoutes {
        let api = APIRoutes(services: services)
        UserAPI(services: services).register(api)
        SignUpAPI(services: services).register(api)
        OrganizationAPI(services: services, inviteNotices: modules.flatMap { $0.teamInviteNotices() }).register(api)
        AccountAPI(services: services).register(api)
        TokenAPI(services: services).register(api)
        RobotAPI(services: services).register(api)
        RobotFederationAPI(services: services, notifier: identityNotifier(services, modules)).register(api)
        ExternalLoginAPI(services: services, notifier: identityNotifier(services, modules)).register(api)
        PermissionAPI(services: services).register(api)
        RepositoryAPI(services: services, deletionObservers: modules.flatMap { $0.repositoryDeletionObservers() }).register(api)
        TagAPI(services: services).register(api)
        ManifestAPI(services: services).register(api)
        LogsAPI(services: services).register(api)
        for module in modules { module.registerAPI(api) }
        LogExportAPI(services: services).register(api)
        // Quay drop-in, part A: superuser API, messages, lookups.
        SuperuserAPI(services: services).register(api)
        MessagesAPI(services: services).register(api)
        LookupAPI(services: services).register(api)
        // Last: it describes every route registered before it (and itself).
        DiscoveryAPI().register(api)
        return api
    }

    /// The HTTP application, ready to `run()` (or to hand to a `ServiceGroup`). The database
    /// stays open after it stops: the caller's `SlipwaySchema.withDatabase` scope closes it.
    public static func application(services: RegistryServices, modules: [any SlipwayModule] = [],
                                   onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in })
        -> some ApplicationProtocol {
        Application(
            router: router(services: services, modules: modules),
            server: .slipwayHTTP1,
            configuration: .init(address: .hostname(services.config.server.host, port: services.config.server.port), serverName: "Slipway"),
            // Services stop in reverse order: the audit log flushes and the job queues' runners
            // stop before their driver; the caller's database scope closes after all of them.
            services: [services.auditLog, services.jobs]
                + collectors(services, modules: modules) + [LogExporter(services: services)]
                + modules.flatMap { $0.backgroundServices() },
            onServerRunning: onServerRunning,
            logger: services.logger)
    }
}

/// `GET /health/instance` in Quay's shape: 200 when the database and storage answer, else 503.
/// Modules add flags of their own; a failing one makes it 503 only if it says so.
struct HealthCheck: Sendable {
    let services: RegistryServices
    let contributors: [any HealthContributor]

    struct Body: Encodable {
        struct Data: Encodable { let services: [String: Bool] }
        let data: Data
        let status_code: Int
    }

    func response() async -> Response {
        let database = (try? await services.accounts.hasAnyUser()) != nil
        let storage = await services.storage.isHealthy()
        var flags = ["database": database, "storage": storage]
        var ok = database && storage
        for contributor in contributors {
            let flag = await contributor.health()
            flags[flag.name] = flag.healthy
            if !flag.healthy && flag.failsInstance { ok = false }
        }
        let body = Body(data: .init(services: flags), status_code: ok ? 200 : 503)
        let buffer = V2Handler.encodeJSON(body)
        return Response(status: ok ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }
}
