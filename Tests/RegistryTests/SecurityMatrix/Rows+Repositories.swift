import Accounts
import Foundation
import Registry
import SlipwayCore

/// Matrix rows for repositories, tags, manifests/labels and usage logs. Non-destructive rows act
/// on `acme/app`; destructive ones on something made fresh for each identity.
extension MatrixRows {
    /// Read on acme/app: the org admin and the readers team; the rest cannot see it (404).
    static let readApp = expect(200, [.anonymous: 401, .owner: 404, .creator: 404, .outsider: 404, .narrowToken: 404])
    static func writeApp(_ ok: Int) -> [MatrixIdentity: Int] {
        expect(ok, [.anonymous: 401, .owner: 404, .creator: 404, .member: 403, .outsider: 404, .narrowToken: 404])
    }
    /// Admin on a repository only the org admin can see.
    static func adminFresh(_ ok: Int) -> [MatrixIdentity: Int] {
        expect(404, [.anonymous: 401, .orgAdmin: ok])
    }
    static func adminApp(_ ok: Int) -> [MatrixIdentity: Int] {
        expect(ok, [.anonymous: 401, .owner: 404, .creator: 404, .member: 403, .outsider: 404, .narrowToken: 404])
    }

    static func appDigest(_ f: MatrixFixture) async throws -> Digest {
        let store = f.registry.services.store
        let accounts = f.registry.services.accounts
        let repo = try await accounts.repository(RepositoryPath(namespace: "acme", name: "app"))!
        return try await store.manifest(repositoryID: repo.id, tag: "v1")!.digest
    }

    static func freshRepo(_ f: MatrixFixture, _ who: MatrixIdentity, _ prefix: String) async throws -> Repository {
        try await f.registry.services.accounts.createRepository(namespaceID: f.acme.id, name: "\(prefix)-\(who.rawValue.lowercased())", visibility: .private).0
    }

    static let repositories: [MatrixRow] = [
        MatrixRow(.post, "/api/v1/repository", expect(403, [.anonymous: 401, .orgAdmin: 201, .creator: 201])) { _, who in
            ("/api/v1/repository", #"{"repository":"new-\#(who.rawValue.lowercased())","visibility":"private","description":"","namespace":"acme"}"#)
        },
        MatrixRow(.get, "/api/v1/repository", path: "/api/v1/repository?namespace=acme", expect(200)),
        MatrixRow(.get, "/api/v1/repository/{repository}", path: "/api/v1/repository/acme/app", readApp),
        MatrixRow(.put, "/api/v1/repository/{repository}", path: "/api/v1/repository/acme/app", body: #"{"description":"hello"}"#, writeApp(200)),
        MatrixRow(.delete, "/api/v1/repository/{repository}", adminFresh(204)) { f, who in
            ("/api/v1/repository/acme/\(try await freshRepo(f, who, "del").name)", nil)
        },
        // Special case: deleting a repository that does not exist is a 204 (Quay; pubtools-quay's
        // delete_repository relies on it), but only for who could have deleted it (namespace
        // admin with repo:admin). Everyone else gets what an invisible private repository gives.
        MatrixRow(.delete, "/api/v1/repository/{repository}", path: "/api/v1/repository/acme/never-existed", expect(404, [.anonymous: 401, .orgAdmin: 204])),
        MatrixRow(.delete, "/api/v1/repository/{repository}", path: "/api/v1/repository/admin/never-existed",
                  expect(404, [.anonymous: 401, .owner: 204, .narrowToken: 403])),
        MatrixRow(.delete, "/api/v1/repository/{repository}", path: "/api/v1/repository/nobody-here/never-existed", expect(404, [.anonymous: 401])),
        MatrixRow(.post, "/api/v1/repository/{repository}/changevisibility", path: "/api/v1/repository/acme/app/changevisibility",
                  body: #"{"visibility":"private"}"#, adminApp(200)),
        MatrixRow(.put, "/api/v1/repository/{repository}/changestate", path: "/api/v1/repository/acme/app/changestate",
                  body: #"{"state":"NORMAL"}"#, adminApp(200)),
        MatrixRow(.get, "/api/v1/user/starred", expect(200, [.anonymous: 401, .narrowToken: 403])),
        MatrixRow(.post, "/api/v1/user/starred", body: #"{"namespace":"acme","repository":"app"}"#,
                  expect(404, [.anonymous: 401, .orgAdmin: 201, .member: 201, .narrowToken: 403])),
        MatrixRow(.delete, "/api/v1/repository/{repository}/star", path: "/api/v1/repository/acme/app/star", readApp.merging([.orgAdmin: 204, .member: 204]) { $1 }),

        // Tags
        MatrixRow(.get, "/api/v1/repository/{repository}/tag/", path: "/api/v1/repository/acme/app/tag/", readApp),
        MatrixRow(.put, "/api/v1/repository/{repository}/tag/{tag}", writeApp(201)) { f, who in
            ("/api/v1/repository/acme/app/tag/t-\(who.rawValue.lowercased())", #"{"manifest_digest":"\#(try await appDigest(f))"}"#)
        },
        MatrixRow(.delete, "/api/v1/repository/{repository}/tag/{tag}", writeApp(204)) { f, who in
            let store = f.registry.services.store
            let accounts = f.registry.services.accounts
            let repo = try await accounts.repository(RepositoryPath(namespace: "acme", name: "app"))!
            let tag = "d-\(who.rawValue.lowercased())"
            _ = try await store.pointTag(repositoryID: repo.id, name: tag, digest: try await appDigest(f))
            return ("/api/v1/repository/acme/app/tag/\(tag)", nil)
        },
        MatrixRow(.post, "/api/v1/repository/{repository}/tag/{tag}/restore", writeApp(200)) { f, _ in
            ("/api/v1/repository/acme/app/tag/v1/restore", #"{"manifest_digest":"\#(try await appDigest(f))"}"#)
        },
        MatrixRow(.post, "/api/v1/repository/{repository}/tag/expiration", writeApp(200)) { _, _ in
            ("/api/v1/repository/acme/app/tag/expiration", #"{"tags":["v1"],"expiration":\#(Int(Date().timeIntervalSince1970) + 86400)}"#)
        },

        // Manifests and labels
        MatrixRow(.get, "/api/v1/repository/{repository}/manifest/{manifestref}", readApp) { f, _ in
            ("/api/v1/repository/acme/app/manifest/\(try await appDigest(f))", nil)
        },
        MatrixRow(.get, "/api/v1/repository/{repository}/manifest/{manifestref}/labels", readApp) { f, _ in
            ("/api/v1/repository/acme/app/manifest/\(try await appDigest(f))/labels", nil)
        },
        MatrixRow(.post, "/api/v1/repository/{repository}/manifest/{manifestref}/labels", writeApp(201)) { f, _ in
            ("/api/v1/repository/acme/app/manifest/\(try await appDigest(f))/labels", #"{"key":"team","value":"x","media_type":"text/plain"}"#)
        },
        MatrixRow(.get, "/api/v1/repository/{repository}/manifest/{manifestref}/labels/{labelid}", readApp) { f, _ in
            let label = try await freshLabel(f)
            return ("/api/v1/repository/acme/app/manifest/\(try await appDigest(f))/labels/\(label)", nil)
        },
        MatrixRow(.delete, "/api/v1/repository/{repository}/manifest/{manifestref}/labels/{labelid}", writeApp(204)) { f, _ in
            let label = try await freshLabel(f)
            return ("/api/v1/repository/acme/app/manifest/\(try await appDigest(f))/labels/\(label)", nil)
        },

        // Usage logs
        MatrixRow(.get, "/api/v1/repository/{repository}/logs", path: "/api/v1/repository/acme/app/logs", adminApp(200)),
        MatrixRow(.get, "/api/v1/repository/{repository}/aggregatelogs", path: "/api/v1/repository/acme/app/aggregatelogs", adminApp(200)),
        MatrixRow(.get, "/api/v1/user/logs", expect(200, [.anonymous: 401, .narrowToken: 403])),
        MatrixRow(.get, "/api/v1/user/aggregatelogs", expect(200, [.anonymous: 401, .narrowToken: 403])),
        MatrixRow(.get, "/api/v1/organization/{orgname}/logs", path: "/api/v1/organization/acme/logs", expect(403, [.anonymous: 401, .orgAdmin: 200])),
        MatrixRow(.get, "/api/v1/organization/{orgname}/aggregatelogs", path: "/api/v1/organization/acme/aggregatelogs",
                  expect(403, [.anonymous: 401, .orgAdmin: 200])),
    ]

    static func freshLabel(_ f: MatrixFixture) async throws -> String {
        let store = f.registry.services.store
        let accounts = f.registry.services.accounts
        let repo = try await accounts.repository(RepositoryPath(namespace: "acme", name: "app"))!
        let manifest = try await store.manifest(repositoryID: repo.id, tag: "v1")!
        return try await store.addLabel(manifestID: manifest.id, key: "fresh", value: "1", source: "api", mediaType: "text/plain").id
    }
}
