import Accounts
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Every `/v2` route × identity → expected status, on a private repository owned by `admin`
/// (and the read routes on a public one). The table must cover every route label.
@Suite("Registry authorization matrix")
struct AuthorizationMatrixTests {
    enum Who: String, CaseIterable, Sendable { case anonymous, owner, outsider, reader }

    struct Fixture: Sendable {
        let manifestDigest: Digest
        let manifestBytes: [UInt8]
        let blobDigest: Digest
        let tokens: [Who: String]
        let client: RegistryClient
        let ownerToken: String

        func freshUpload(_ repo: String) async throws -> String {
            let r = try await client.send(.post, "/v2/\(repo)/blobs/uploads/", token: ownerToken)
            return try #require(r.headers[.location])
        }
    }

    struct Row: Sendable {
        let label: String
        let method: HTTPRequest.Method
        /// Builds the request (path, headers, body) — may create state the request consumes.
        let request: @Sendable (Fixture, String) async throws -> (String, HTTPFields, ByteBuffer?)
        let expect: [Who: HTTPResponse.Status]
    }

    static func same(_ s: HTTPResponse.Status, except: [Who: HTTPResponse.Status] = [:]) -> [Who: HTTPResponse.Status] {
        var out: [Who: HTTPResponse.Status] = [:]
        for w in Who.allCases { out[w] = except[w] ?? s }
        return out
    }

    static let read: [Who: HTTPResponse.Status] = [.anonymous: .unauthorized, .owner: .ok, .outsider: .unauthorized, .reader: .ok]
    static func write(_ ok: HTTPResponse.Status) -> [Who: HTTPResponse.Status] {
        [.anonymous: .unauthorized, .owner: ok, .outsider: .unauthorized, .reader: .unauthorized]
    }

    static func rows(repo: String) -> [Row] {
        [
            Row(label: "base", method: .get, request: { _, _ in ("/v2/", [:], nil) }, expect: same(.ok, except: [.anonymous: .unauthorized])),
            Row(label: "catalog", method: .get, request: { _, _ in ("/v2/_catalog", [:], nil) }, expect: same(.ok)),
            // The token endpoint takes Basic credentials; it answers every identity (down-scoped).
            Row(label: "token", method: .get, request: { _, who in
                let basic = "Basic " + Data("\(who == "owner" ? TestRegistry.adminName : who):\(TestRegistry.password)".utf8).base64EncodedString()
                return ("/v2/auth?service=localhost&scope=repository:\(repo):pull", who == "anonymous" ? [:] : [.authorization: basic], nil)
            }, expect: same(.ok)),
            Row(label: "tags_list", method: .get, request: { _, _ in ("/v2/\(repo)/tags/list", [:], nil) }, expect: read),
            Row(label: "manifest", method: .get, request: { _, _ in ("/v2/\(repo)/manifests/v1", [:], nil) }, expect: read),
            Row(label: "manifest", method: .head, request: { f, _ in ("/v2/\(repo)/manifests/\(f.manifestDigest)", [:], nil) }, expect: read),
            Row(label: "manifest", method: .put, request: { f, who in
                ("/v2/\(repo)/manifests/put-\(who)", [.contentType: MediaTypes.ociManifest], ByteBuffer(bytes: f.manifestBytes))
            }, expect: write(.created)),
            Row(label: "manifest", method: .delete, request: { f, who in
                _ = try await f.client.send(.put, "/v2/\(repo)/manifests/del-\(who)", token: f.ownerToken,
                                            headers: [.contentType: MediaTypes.ociManifest], body: ByteBuffer(bytes: f.manifestBytes))
                return ("/v2/\(repo)/manifests/del-\(who)", [:], nil)
            }, expect: write(.accepted)),
            Row(label: "blob", method: .get, request: { f, _ in ("/v2/\(repo)/blobs/\(f.blobDigest)", [:], nil) }, expect: read),
            Row(label: "blob", method: .head, request: { f, _ in ("/v2/\(repo)/blobs/\(f.blobDigest)", [:], nil) }, expect: read),
            Row(label: "blob", method: .delete, request: { f, who in
                let d = try await f.client.pushBlob(repo, Array("delete-me-\(who)".utf8), token: f.ownerToken)
                return ("/v2/\(repo)/blobs/\(d)", [:], nil)
            }, expect: write(.accepted)),
            Row(label: "upload_start", method: .post, request: { _, _ in ("/v2/\(repo)/blobs/uploads/", [:], nil) }, expect: write(.accepted)),
            Row(label: "upload", method: .get, request: { f, _ in (try await f.freshUpload(repo), [:], nil) }, expect: write(.noContent)),
            Row(label: "upload", method: .patch, request: { f, _ in (try await f.freshUpload(repo), [:], ByteBuffer(string: "abc")) },
                expect: write(.accepted)),
            Row(label: "upload", method: .put, request: { f, _ in
                let loc = try await f.freshUpload(repo)
                return (loc + "?digest=\(Digest.sha256(of: Array("abc".utf8)))", [:], ByteBuffer(string: "abc"))
            }, expect: write(.created)),
            Row(label: "upload", method: .delete, request: { f, _ in (try await f.freshUpload(repo), [:], nil) }, expect: write(.noContent)),
            Row(label: "referrers", method: .get, request: { f, _ in ("/v2/\(repo)/referrers/\(f.manifestDigest)", [:], nil) }, expect: read),
        ]
    }

    @Test func everyRouteHasARow() {
        let covered = Set(Self.rows(repo: "x/y").map(\.label))
        #expect(covered == Set(V2Route.allLabels))
    }

    @Test(arguments: TestBackend.available)
    func privateRepository(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let repo = "admin/private"
            let fixture = try await Self.setUp(registry, c, repo: repo)
            for row in Self.rows(repo: repo) {
                for who in Who.allCases {
                    let (path, headers, body) = try await row.request(fixture, who.rawValue)
                    let token = row.label == "token" ? nil : fixture.tokens[who]
                    let response = try await c.send(row.method, path, token: token, headers: headers, body: body)
                    #expect(response.status == row.expect[who], "\(row.method) \(row.label) as \(who): \(response.status) \(String(buffer: response.body).prefix(200))")
                    if response.status == .unauthorized && row.label != "token" {
                        Self.expectRefusal(response, who: who, "\(row.method) \(row.label)")
                    }
                }
            }
        }
    }

    /// A 401 tells the anonymous caller to sign in (a plain Bearer challenge, UNAUTHORIZED) and
    /// a signed-in caller that access is denied (the challenge says `insufficient_scope`, the
    /// body DENIED and names the repository), so podman says "denied", not "authentication
    /// required". HEAD responses carry the challenge only.
    static func expectRefusal(_ response: TestResponse, who: Who, _ what: String) {
        let challenge = response.headers[.wwwAuthenticate] ?? ""
        #expect(challenge.hasPrefix("Bearer realm="), "\(what) as \(who): \(challenge)")
        let hasBody = response.body.readableBytes > 0
        if who == .anonymous {
            #expect(!challenge.contains("error="), "\(what) as \(who): \(challenge)")
            if hasBody { #expect(response.ociErrorCode == "UNAUTHORIZED", "\(what) as \(who)") }
        } else {
            #expect(challenge.contains(#",error="insufficient_scope""#) && challenge.contains("admin/"), "\(what) as \(who): \(challenge)")
            #expect(challenge.contains(#"error_description="requested access to the resource is denied: you may not "#), "\(what) as \(who): \(challenge)")
            if hasBody {
                #expect(response.ociErrorCode == "DENIED", "\(what) as \(who): \(String(buffer: response.body))")
                #expect(String(buffer: response.body).contains("admin/"), "\(what) as \(who): the message names the repository")
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func publicRepositoryReads(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let repo = "admin/open"
            let fixture = try await Self.setUp(registry, c, repo: repo)
            let repository = try #require(try await registry.services.accounts.repository(RepositoryPath(namespace: "admin", name: "open")))
            try await registry.services.accounts.setVisibility(repositoryID: repository.id, .public)
            for row in Self.rows(repo: repo) where [.get, .head].contains(row.method) && ["tags_list", "manifest", "blob", "referrers"].contains(row.label) {
                for who in Who.allCases {
                    let (path, headers, body) = try await row.request(fixture, who.rawValue)
                    let response = try await c.send(row.method, path, token: fixture.tokens[who], headers: headers, body: body)
                    #expect(response.status == .ok, "\(row.method) \(row.label) as \(who) on a public repository: \(response.status)")
                }
            }
            // Public does not mean writable.
            let put = try await c.send(.put, "/v2/\(repo)/manifests/x", token: fixture.tokens[.outsider], headers: [.contentType: MediaTypes.ociManifest],
                                       body: ByteBuffer(bytes: fixture.manifestBytes))
            #expect(put.status == .unauthorized)
            Self.expectRefusal(put, who: .outsider, "PUT manifest on a public repository")
            #expect(String(buffer: put.body).contains("you may not push to admin/open"))
            let anonymousPut = try await c.send(.put, "/v2/\(repo)/manifests/x", headers: [.contentType: MediaTypes.ociManifest],
                                                body: ByteBuffer(bytes: fixture.manifestBytes))
            #expect(anonymousPut.status == .unauthorized)
            Self.expectRefusal(anonymousPut, who: .anonymous, "anonymous PUT manifest on a public repository")
        }
    }

    static func setUp(_ registry: TestRegistry, _ c: RegistryClient, repo: String) async throws -> Fixture {
        try await registry.createUser("outsider")
        let reader = try await registry.createUser("reader")
        let ownerToken = try #require(try await c.token(.init(TestRegistry.adminName), scopes: ["repository:\(repo):pull,push,*", "registry:catalog:*"]))
        let (digest, bytes) = try await c.pushImage(repo, tag: "v1", token: ownerToken)
        let blob = try await c.pushBlob(repo, Array("a blob".utf8), token: ownerToken)
        let path = try RepositoryPath(parsing: repo)
        let repository = try #require(try await registry.services.accounts.repository(path))
        try await registry.services.accounts.setPermission(repositoryID: repository.id, userID: reader.id, role: .read)
        var tokens: [Who: String] = [.owner: ownerToken]
        for who in [Who.outsider, .reader] {
            tokens[who] = try #require(try await c.token(.init(who.rawValue), scopes: ["repository:\(repo):pull,push,*", "registry:catalog:*"]))
        }
        return Fixture(manifestDigest: digest, manifestBytes: bytes, blobDigest: blob, tokens: tokens, client: c, ownerToken: ownerToken)
    }
}
