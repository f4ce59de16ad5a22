import Accounts
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Repository pages answer each identity as the API does: an anonymous viewer of private content
/// is sent to sign in, an outsider gets 404, readers see the tags; admin-only tabs are 404 for
/// everyone else. User data is always HTML-escaped.
@Suite("Web UI: repository pages")
struct RepositoryPageTests {
    static let hostile = #"<script>alert("x")</script>&'"#
    static let escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"

    /// admin owns `admin/app` (private) with tags v1 and `build` (a tag named like a path word),
    /// `admin/app/build/x` is another repository; `reader` has read on `admin/app`; `outsider` nothing.
    func fixture(_ registry: TestRegistry, _ client: RegistryClient) async throws -> Digest {
        let accounts = registry.services.accounts
        let reader = try await registry.createUser("reader")
        try await registry.createUser("outsider")
        let token = try #require(try await client.token(.init(TestRegistry.adminName), scopes: [
            "repository:admin/app:push,pull", "repository:admin/app/build/x:push,pull"]))
        let (digest, _) = try await client.pushImage("admin/app", tag: "v1", token: token)
        try await client.pushImage("admin/app", tag: "build", token: token)
        try await client.pushImage("admin/app/build/x", tag: "nested", token: token)
        let repo = try #require(try await accounts.repository(RepositoryPath(namespace: "admin", name: "app")))
        try await accounts.setPermission(repositoryID: repo.id, userID: reader.id, role: .read)
        try await accounts.setDescription(repositoryID: repo.id, Self.hostile)
        return digest
    }

    @Test func identitiesGetWhatTheAPIWouldGive() async throws {
        try await TestRegistry.with(.sqlite) { registry, client in
            let digest = try await fixture(registry, client)
            let anonymous = try await WebSession.anonymous(client).get("/repository/admin/app")
            #expect(anonymous.status == .seeOther)
            #expect(anonymous.headers[.location] == "/signin?redirect=/repository/admin/app")

            let outsider = try await WebSession.signIn(client, "outsider")
            for path in ["/repository/admin/app", "/repository/admin/app?tab=history", "/repository/admin/app/tag/v1",
                         "/repository/admin/app/manifest/\(digest)", "/repository/admin/nope"] {
                let response = try await outsider.get(path)
                #expect(response.status == .notFound, "\(path)")
                #expect(!response.text.contains("v1</a>"))
            }

            let reader = try await WebSession.signIn(client, "reader")
            let tags = try await reader.get("/repository/admin/app")
            #expect(tags.status == .ok)
            #expect(tags.text.contains(#"data-tag="v1""#))
            #expect(tags.text.contains(#"data-tag="build""#))
            // Readers get no write controls and no admin tabs.
            #expect(!tags.text.contains("tag-delete"))
            #expect(!tags.text.contains(#"id="tab-settings""#))
            // The tags view's security column links to each manifest's Security Scanner page, which readers see.
            #expect(tags.text.contains(#"href="/repository/admin/app/manifest/\#(digest)" class="scan-cell scan-queued">Queued</a>"#))
            let security = try await reader.get("/repository/admin/app/manifest/\(digest)")
            #expect(security.status == .ok && security.text.contains(#"data-status="queued""#))
            #expect(try await reader.get("/repository/admin/app/manifest/sha256:\(String(repeating: "0", count: 64))").status == .notFound)
            #expect(try await reader.get("/repository/admin/app?tab=settings").status == .notFound)
            #expect(try await reader.get("/repository/admin/app?tab=logs").status == .notFound)

            let admin = try await WebSession.signIn(client, TestRegistry.adminName)
            let adminTags = try await admin.get("/repository/admin/app?tab=tags")
            #expect(adminTags.text.contains("tag-delete"))
            #expect(adminTags.text.contains(#"id="tab-settings""#))
            for tab in ["history", "builds", "settings", "logs"] {
                let page = try await admin.get("/repository/admin/app?tab=\(tab)")
                #expect(page.status == .ok, "\(tab)")
                #expect(page.text.contains(#"id="tab-\#(tab)" aria-current="page""#), "\(tab)")
            }
        }
    }

    @Test func pathsAreReadFromTheRight() async throws {
        try await TestRegistry.with(.sqlite) { registry, client in
            let digest = try await fixture(registry, client)
            let admin = try await WebSession.signIn(client, TestRegistry.adminName)
            // The tag called `build` of admin/app.
            let tagPage = try await admin.get("/repository/admin/app/tag/build")
            #expect(tagPage.status == .ok)
            #expect(tagPage.text.contains(#"id="tag-details" data-tag="build""#))
            let v1 = try await admin.get("/repository/admin/app/tag/v1")
            #expect(v1.text.contains(digest.description))
            // The repository admin/app/build/x, not a build "x" of admin/app.
            let nested = try await admin.get("/repository/admin/app/build/x")
            #expect(nested.status == .ok)
            #expect(nested.text.contains(#"data-repository="admin/app/build/x""#))
            #expect(nested.text.contains(#"data-tag="nested""#))
            // A build id that does not exist in admin/app.
            #expect(try await admin.get("/repository/admin/app/build/0000").status == .notFound)
        }
    }

    @Test func userDataIsEscaped() async throws {
        try await TestRegistry.with(.sqlite) { registry, client in
            let digest = try await fixture(registry, client)
            let admin = try await WebSession.signIn(client, TestRegistry.adminName)
            let label = try await admin.api(.post, "/api/v1/repository/admin/app/manifest/\(digest)/labels",
                                            json: #"{"key":"evil","value":"\u003cimg src=x onerror=alert(1)\u003e\"'"}"#)
            #expect(label.status == .created)
            let tags = try await admin.get("/repository/admin/app")
            #expect(tags.text.contains(Self.escaped))
            #expect(!tags.text.contains(Self.hostile))
            let details = try await admin.get("/repository/admin/app/tag/v1")
            #expect(details.text.contains("evil=&lt;img src=x onerror=alert(1)&gt;&quot;&#39;"))
            #expect(!details.text.contains("<img src=x"))
            let settings = try await admin.get("/repository/admin/app?tab=settings")
            #expect(settings.text.contains("<textarea id=\"description-input\" aria-labelledby=\"description-heading\">\(Self.escaped)</textarea>"))
            let list = try await admin.get("/repository/")
            #expect(list.text.contains(Self.escaped))
            #expect(!list.text.contains(Self.hostile))
        }
    }

    @Test func tagsArePaginated() async throws {
        try await TestRegistry.with(.sqlite) { registry, client in
            let token = try #require(try await client.token(.init(TestRegistry.adminName), scopes: ["repository:admin/many:push,pull"]))
            let (digest, _) = try await client.pushImage("admin/many", tag: "t0", token: token)
            let repo = try #require(try await registry.services.accounts.repository(RepositoryPath(namespace: "admin", name: "many")))
            for i in 1...60 { _ = try await registry.services.store.pointTag(repositoryID: repo.id, name: "t\(i)", digest: digest) }
            let admin = try await WebSession.signIn(client, TestRegistry.adminName)
            let first = try await admin.get("/repository/admin/many?tab=tags")
            #expect(first.text.components(separatedBy: "class=\"tag-row\"").count - 1 == 50)
            #expect(first.text.contains(#"id="next-page""#))
            let second = try await admin.get("/repository/admin/many?tab=tags&page=2")
            #expect(second.text.components(separatedBy: "class=\"tag-row\"").count - 1 == 11)
            #expect(!second.text.contains(#"id="next-page""#))
            let filtered = try await admin.get("/repository/admin/many?tab=tags&filter=t5")
            #expect(filtered.text.contains(#"data-tag="t5""#))
            #expect(!filtered.text.contains(#"data-tag="t4""#))
        }
    }

    @Test func repositoryListAndExplore() async throws {
        try await TestRegistry.with(.sqlite) { registry, client in
            _ = try await fixture(registry, client)
            let store = registry.services.store
            let admin = try await WebSession.signIn(client, TestRegistry.adminName)
            #expect(try await admin.api(.post, "/api/v1/repository",
                                        json: #"{"repository":"shown","visibility":"public","description":"findme"}"#).status == .created)
            let list = try await admin.get("/repository/")
            #expect(list.text.contains(#"data-repository="admin/app""#))
            #expect(list.text.contains(#"data-repository="admin/shown""#))
            let filtered = try await admin.get("/repository/?namespace=library")
            #expect(!filtered.text.contains(#"data-repository="admin/app""#))
            #expect(try await WebSession.anonymous(client).get("/repository/").status == .seeOther)
            // Repositories shared with a user appear in their list; the outsider sees none of admin's.
            let reader = try await WebSession.signIn(client, "reader")
            #expect(try await reader.get("/repository/").text.contains(#"data-repository="admin/app""#))
            let outsider = try await WebSession.signIn(client, "outsider")
            #expect(!(try await outsider.get("/repository/").text.contains(#"data-repository="admin/"#)))

            let explore = try await WebSession.anonymous(client).get("/explore?q=findme")
            #expect(explore.text.contains("admin/shown") || explore.text.contains(">admin</"))
            #expect(explore.text.contains("/repository/admin/shown"))
            #expect(!explore.text.contains("/repository/admin/app\""))
            let none = try await WebSession.anonymous(client).get("/explore?q=zzz-nothing")
            #expect(none.text.contains(#"id="explore-empty""#))
            _ = store
        }
    }
}
