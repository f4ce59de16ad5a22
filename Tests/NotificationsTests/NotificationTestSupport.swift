@testable import Notifications
import Accounts
import Events
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// A registry with `admin/app` pushed, an API token for `admin`, and helpers to create
/// notifications and drive the dispatcher.
struct NotificationFixture: Sendable {
    let registry: TestRegistry
    let client: RegistryClient
    let api: String
    let repo: Repository

    static let json: HTTPFields = [.contentType: "application/json"]

    var store: MetadataStore { registry.services.store }
    var accounts: AccountStore { registry.services.accounts }
    /// The notifications module's store.
    var notifications: NotificationStore { registry.notifications.store }
    var events: EventOutbox { registry.services.events }
    var dispatcher: NotificationDispatcher { registry.notifications.dispatcher }

    static func apiToken(_ registry: TestRegistry, _ user: String) async throws -> String {
        let ns = try #require(try await registry.services.accounts.namespace(named: user))
        let token = APITokens.generate()
        try await registry.services.accounts.createAPIToken(userID: ns.id, tokenHash: APITokens.hash(token), scopes: Array(APICaller.allScopes), description: "t")
        return token
    }

    /// A running application whose dispatcher does not run in the background: the tests drive
    /// it with `runOnce`, and move its clock.
    static func with(_ backend: TestBackend, repository: String = "admin/app", configure: @escaping (inout SlipwayConfig) -> Void = { _ in },
                     _ body: @escaping @Sendable (NotificationFixture) async throws -> Void) async throws {
        try await TestRegistry.with(backend, configure: { config in
            // The receivers of these tests listen on loopback.
            config.notifications.allowPrivateTargets = true
            config.notifications.dispatchIntervalSeconds = 0
            configure(&config)
        }) { registry, client in
            // A repository outside the admin's namespace lives in an organization the admin owns.
            let namespace = String(repository.split(separator: "/").first ?? "")
            let accounts = registry.services.accounts
            if namespace != TestRegistry.adminName, try await accounts.namespace(named: namespace) == nil {
                let admin = try #require(try await accounts.namespace(named: TestRegistry.adminName))
                _ = try await accounts.createOrganization(name: namespace, email: nil, creatorID: admin.id)
            }
            let push = try #require(try await client.token(.init(TestRegistry.adminName), scopes: ["repository:\(repository):pull,push"]))
            try await client.pushImage(repository, tag: "base", token: push)
            let repo = try #require(try await registry.services.accounts.repository(try RepositoryPath(parsing: repository)))
            let api = try await apiToken(registry, TestRegistry.adminName)
            try await body(NotificationFixture(registry: registry, client: client, api: api, repo: repo))
        }
    }

    func send(_ method: HTTPRequest.Method, _ path: String, token: String? = nil, _ body: String? = nil) async throws -> TestResponse {
        try await client.send(method, path, token: token ?? api, headers: body == nil ? [:] : Self.json, body: body.map { ByteBuffer(string: $0) })
    }

    /// Creates a notification and returns its view; fails the test unless the answer is 201.
    @discardableResult
    func create(_ body: String) async throws -> [String: Any] {
        let r = try await send(.post, "/api/v1/repository/\(repo.path)/notification/", body)
        #expect(r.status == .created, "\(String(buffer: r.body))")
        return try #require(r.json as? [String: Any])
    }

    func notification(_ view: [String: Any]) async throws -> RepositoryNotification {
        let uuid = try #require(view["uuid"] as? String)
        return try #require(try await notifications.notification(uuid: uuid, repositoryID: repo.id))
    }

    func push(_ tag: String) async throws {
        let token = try #require(try await client.token(.init(TestRegistry.adminName), scopes: ["repository:\(repo.path):pull,push"]))
        try await client.pushImage(repo.path.description, tag: tag, token: token)
    }

    /// One dispatcher pass with the job queue's clock at `now` (real time when nil).
    @discardableResult
    func runOnce(now: Int64? = nil, forceExpiryScan: Bool = false) async -> NotificationDispatcher.PassResult {
        registry.jobTime.set(now)
        return await dispatcher.runOnce(forceExpiryScan: forceExpiryScan)
    }

    /// Runs dispatcher passes until `condition` holds (60 s at most: only a failing test waits that long).
    func deliver(now: Int64? = nil, until condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            await runOnce(now: now)
            if try await condition() { return }
            guard ContinuousClock.now < deadline else {
                Issue.record("condition not met within 60 s")
                throw TestFailure("timed out")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Drives the deliveries of one notification to a final state, moving the clock to each
    /// retry's due time. Returns the deliveries.
    @discardableResult
    func settle(_ notificationID: Int64, from start: Int64 = Clock.nowMillis()) async throws -> [NotificationDelivery] {
        var now = start
        for _ in 0..<100 {
            await runOnce(now: now)
            let all = try await notifications.deliveries(notificationID: notificationID)
            let pending = all.filter { $0.status == .pending }
            if pending.isEmpty { return all }
            now = max(now, pending.map(\.nextAttemptAt).min() ?? now)
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("deliveries did not settle")
    }
}

extension TestResponse {
    var object: [String: Any] { (json as? [String: Any]) ?? [:] }
    var errorMessage: String { (object["error_message"] as? String) ?? "" }
}
