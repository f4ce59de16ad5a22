import Accounts
import BuildOrchestrator
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Registry
import SlipwayTestSupport
import Testing
@testable import Triggers
import SlipwayCore

/// A registry with the admin's repository `admin/app`, an API token, and helpers to create,
/// activate and call triggers.
struct TriggerHarness: Sendable {
    let registry: TestRegistry
    let c: RegistryClient
    let token: String
    let repo: Repository
    static let json: HTTPFields = [.contentType: "application/json"]
    static let base = "/api/v1/repository/admin/app/trigger"

    static func make(_ registry: TestRegistry, _ c: RegistryClient) async throws -> TriggerHarness {
        let accounts = registry.services.accounts
        let admin = try #require(try await accounts.namespace(named: TestRegistry.adminName))
        let token = APITokens.generate()
        try await accounts.createAPIToken(userID: admin.id, tokenHash: APITokens.hash(token), scopes: Array(APICaller.allScopes), description: "t")
        let (repo, _) = try await accounts.createRepository(namespaceID: admin.id, name: "app", visibility: .private)
        return TriggerHarness(registry: registry, c: c, token: token, repo: repo)
    }

    static func run(_ backend: TestBackend, configure: @escaping (inout SlipwayConfig) -> Void = { _ in },
                    _ body: @Sendable @escaping (TriggerHarness) async throws -> Void) async throws {
        try await TestRegistry.with(backend, configure: { config in
            config.builds.inProcessWorkers = 0
            configure(&config)
        }) { registry, c in
            try await body(try await make(registry, c))
        }
    }

    func api(_ method: HTTPRequest.Method, _ path: String, _ body: Any? = nil, token: String? = nil) async throws -> (Int, [String: Any]) {
        let data = try body.map { try JSONSerialization.data(withJSONObject: $0) }
        let r = try await c.send(method, path, token: token ?? self.token, headers: data == nil ? [:] : Self.json,
                                 body: data.map { ByteBuffer(bytes: $0) })
        return (Int(r.status.code), (r.json as? [String: Any]) ?? [:])
    }

    func create(_ service: String = "custom-git") async throws -> String {
        let (status, view) = try await api(.post, Self.base + "/", ["service": service])
        #expect(status == 201, "\(view)")
        return try #require(view["id"] as? String)
    }

    static let source = "ssh://git@git.example.com:2222/srv/app.git"

    /// Creates and activates a trigger; returns its uuid and webhook secret.
    func activated(_ service: String = "custom-git", config extra: [String: Any] = [:], pullRobot: String? = nil) async throws -> (String, String) {
        let uuid = try await create(service)
        var config: [String: Any] = ["build_source": Self.source, "dockerfile_path": "/Dockerfile", "context": "/"]
        config.merge(extra) { _, new in new }
        var body: [String: Any] = ["config": config]
        if let pullRobot { body["pull_robot"] = pullRobot }
        let (status, view) = try await api(.post, "\(Self.base)/\(uuid)/activate", body)
        #expect(status == 200, "\(view)")
        return (uuid, try #require(Self.secret(fromView: view)))
    }

    static func credentials(_ view: [String: Any]) -> [String: String] {
        let creds = ((view["config"] as? [String: Any])?["credentials"] as? [[String: Any]]) ?? []
        var out: [String: String] = [:]
        for c in creds { if let n = c["name"] as? String, let v = c["value"] as? String { out[n] = v } }
        return out
    }

    static func secret(fromView view: [String: Any]) -> String? {
        guard let url = credentials(view)["Webhook Endpoint URL"], let start = url.range(of: "$token:"),
              let end = url[start.upperBound...].firstIndex(of: "@") else { return nil }
        return String(url[start.upperBound..<end])
    }

    static func basic(_ secret: String, user: String = "$token") -> String {
        "Basic " + Data("\(user):\(secret)".utf8).base64EncodedString()
    }

    /// Posts a webhook body with the trigger's credentials.
    func webhook(_ uuid: String, secret: String?, _ body: String, contentType: String? = "application/json", headers extra: HTTPFields = [:],
                 path: String? = nil) async throws -> (Int, [String: Any]) {
        var headers = extra
        if let contentType { headers[.contentType] = contentType }
        if let secret { headers[.authorization] = Self.basic(secret) }
        let r = try await c.send(.post, path ?? "/webhooks/push/trigger/\(uuid)", headers: headers, body: ByteBuffer(string: body))
        return (Int(r.status.code), (r.json as? [String: Any]) ?? [:])
    }

    func builds() async throws -> [BuildRecord] {
        try await registry.buildFarm.store.builds(repositoryID: repo.id, since: nil, limit: 100)
    }

    /// The stored build whose uuid a response named.
    func build(_ id: Any?) async throws -> BuildRecord {
        let uuid = try #require(id as? String)
        return try #require(try await registry.buildFarm.store.build(uuid: uuid))
    }

    func trigger(_ uuid: String) async throws -> BuildTrigger {
        try #require(try await registry.triggers.store.trigger(uuid: uuid))
    }

    func activity(_ uuid: String) async throws -> [[String: Any]] {
        let (status, body) = try await api(.get, "\(Self.base)/\(uuid)/activity")
        #expect(status == 200)
        return (body["activity"] as? [[String: Any]]) ?? []
    }
}
