import Foundation
import Registry
import SlipwayTestSupport
import Testing

/// The copyable podman commands say `--tls-verify=false` exactly when the server is reached over
/// plain HTTP (no public URL and no `X-Forwarded-Proto: https`, or an http:// public URL), and
/// never over https.
@Suite("Web UI: pull commands")
struct PullCommandTests {
    func pushed(_ registry: TestRegistry, _ client: RegistryClient) async throws {
        let token = try #require(try await client.token(.init(TestRegistry.adminName), scopes: ["repository:admin/app:push,pull"]))
        try await client.pushImage("admin/app", tag: "v1", token: token)
    }

    /// The Tags tab of a new, empty repository (its hint says how to push).
    func emptyRepositoryTags(_ admin: WebSession) async throws -> String {
        let created = try await admin.api(.post, "/api/v1/repository", json: #"{"repository":"empty","visibility":"private","description":""}"#)
        #expect(created.status == .created)
        return try await admin.get("/repository/admin/empty?tab=tags").text
    }

    @Test func plainHTTPCommandsCarryTheFlag() async throws {
        try await TestRegistry.with(.sqlite) { registry, client in
            try await pushed(registry, client)
            let admin = try await WebSession.signIn(client, TestRegistry.adminName)
            let details = try await admin.get("/repository/admin/app/tag/v1").text
            let pull = try #require(details.firstMatch(of: /id="cmd-podman-tag" readonly value="([^"]*)"/)).1
            #expect(pull.hasPrefix("podman pull --tls-verify=false "))
            #expect(pull.hasSuffix("/admin/app:v1"))
            #expect(details.contains(#"value="docker pull "#))
            let tags = try await admin.get("/repository/admin/app?tab=tags").text
            #expect(tags.contains(#"data-plain-http="true""#))
            let robots = try await admin.get("/user/admin?tab=robots").text
            #expect(robots.contains(#"data-plain-http="true""#))
            let empty = try await emptyRepositoryTags(admin)
            #expect(empty.contains("<code>podman push --tls-verify=false "))
        }
    }

    @Test func httpsCommandsDoNot() async throws {
        try await TestRegistry.with(.sqlite, configure: { $0.server.publicURL = "https://registry.example.com" }) { registry, client in
            try await pushed(registry, client)
            let admin = try await WebSession.signIn(client, TestRegistry.adminName)
            let details = try await admin.get("/repository/admin/app/tag/v1").text
            let pull = try #require(details.firstMatch(of: /id="cmd-podman-tag" readonly value="([^"]*)"/)).1
            #expect(pull.hasPrefix("podman pull "))
            #expect(!pull.contains("--tls-verify"))
            let tags = try await admin.get("/repository/admin/app?tab=tags").text
            #expect(tags.contains(#"data-plain-http="false""#))
            let empty = try await emptyRepositoryTags(admin)
            #expect(empty.contains("<code>podman push "))
            #expect(!empty.contains("--tls-verify"))
        }
    }
}
