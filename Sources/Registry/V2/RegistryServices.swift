import Accounts
import Audit
import Events
import Logging
import Mail
import OutboundHTTP
import SlipwayCore

/// Everything the registry's request handlers need, built once by `SlipwayApplication`.
public struct RegistryServices: Sendable {
    public let config: SlipwayConfig
    /// The shared database handle (SlipwayCore). Every module's store wraps it and touches only
    /// that module's tables; `MetadataStore` (OCI) and `AccountStore` (accounts) are the registry's own stores over it.
    public let database: any Database
    /// The registry's OCI metadata: blobs, manifests, tags, uploads.
    public let store: MetadataStore
    /// Accounts: namespaces, teams, tokens, sessions, permissions, repositories.
    public let accounts: AccountStore
    /// The audit module's store: usage logs and log exports.
    public let auditStore: AuditStore
    public let storage: any BlobStorageDriver
    public let tokens: RegistryTokenService
    public let policy: AccessPolicy
    public let uploads: UploadSessions
    public let hasher: PasswordHasher
    /// Seals secrets that are shown again later (robot tokens, deploy keys).
    public let secretBox: SecretBox
    public let metrics: RegistryMetrics
    /// Usage logs (buffered; runs as a service of the application).
    public let auditLog: AuditLog
    /// Revocation checks for already-issued registry tokens.
    public let liveness: CredentialLiveness
    /// Feature modules' reactions to a repository deletion (the build farm drops its builds).
    /// The `repository_events` outbox.
    public let events: EventOutbox
    /// Pending deletions of blob bytes.
    public let tombstones: BlobTombstones
    /// The process's one job queue driver (notification deliveries, mail, log exports). A
    /// `Service`: the application runs it before the queues' runners.
    public let jobs: any JobQueueDriver
    /// The mail outbox (team invitations, log-export mail).
    public let mail: MailOutbox
    /// OpenID Connect issuers' signing keys (robot federation), cached across requests.
    public let oidcKeys: OIDCKeySets
    public let logger: Logger

    public init(config: SlipwayConfig, store: MetadataStore, accounts: AccountStore, auditStore: AuditStore, storage: any BlobStorageDriver, tokens: RegistryTokenService,
                hasher: PasswordHasher, secretBox: SecretBox, jobs: any JobQueueDriver, logger: Logger) {
        self.config = config
        self.database = store.database
        self.store = store
        self.accounts = accounts
        self.auditStore = auditStore
        self.storage = storage
        self.tokens = tokens
        self.policy = AccessPolicy(accounts: accounts, anonymousAccess: config.registry.anonymousAccess)
        self.uploads = UploadSessions()
        self.hasher = hasher
        self.secretBox = secretBox
        self.metrics = RegistryMetrics()
        self.auditLog = AuditLog(store: auditStore, logger: logger)
        self.liveness = CredentialLiveness(accounts: accounts, ttlMillis: Int64(config.auth.revocationCheckSeconds) * 1000)
        self.events = EventOutbox(database: store.database)
        self.tombstones = BlobTombstones(database: store.database)
        self.jobs = jobs
        self.mail = MailOutbox(database: store.database, jobs: jobs, secretBox: secretBox)
        self.oidcKeys = OIDCKeySets(http: OutboundHTTPClient(.init(allowPrivateTargets: config.security.allowPrivateTargets,
                                                                   maxResponseBodyBytes: 256 * 1024)), logger: logger)
        self.logger = logger
    }
}
