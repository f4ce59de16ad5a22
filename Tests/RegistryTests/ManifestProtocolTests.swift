import Accounts
import Foundation
import HTTPTypes
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Manifests, tags, catalog and referrers at the HTTP level, on every metadata backend.
@Suite("Manifests, tags, catalog, referrers")
struct ManifestProtocolTests {
    static let admin = RegistryClient.Credentials(TestRegistry.adminName)
    static let digestHeader = HTTPField.Name("Docker-Content-Digest")!

    static func token(_ c: RegistryClient, _ repos: String...) async throws -> String {
        try #require(try await c.token(admin, scopes: repos.map { "repository:\($0):pull,push,*" }))
    }

    @Test(arguments: TestBackend.available, TestStorageKind.available)
    func pushAndPullByTagAndDigest(backend: TestBackend, storage: TestStorageKind) async throws {
        try await TestRegistry.with(backend, storage: storage) { _, c in
            let token = try await Self.token(c, "admin/app")
            let (digest, bytes) = try await c.pushImage("admin/app", tag: "v1", token: token)

            for ref in ["v1", digest.description] {
                let get = try await c.send(.get, "/v2/admin/app/manifests/\(ref)", token: token,
                                           headers: [.accept: MediaTypes.ociManifest])
                #expect(get.status == .ok)
                #expect(Array(buffer: get.body) == bytes)
                #expect(get.headers[.contentType] == MediaTypes.ociManifest)
                #expect(get.headers[Self.digestHeader] == digest.description)
                let head = try await c.send(.head, "/v2/admin/app/manifests/\(ref)", token: token)
                #expect(head.status == .ok)
                #expect(head.headers[.contentLength] == String(bytes.count))
                #expect(head.body.readableBytes == 0)
            }
            // An Accept that does not list the stored type still gets the manifest, with its real
            // Content-Type, as Quay answers (a 404 reads as "not pushed yet" to such tools).
            for accept in [MediaTypes.dockerManifest, "application/json"] {
                let narrow = try await c.send(.get, "/v2/admin/app/manifests/v1", token: token, headers: [.accept: accept])
                #expect(narrow.status == .ok, "\(accept)")
                #expect(narrow.headers[.contentType] == MediaTypes.ociManifest)
                #expect(Array(buffer: narrow.body) == bytes)
            }

            let missing = try await c.send(.get, "/v2/admin/app/manifests/nope", token: token)
            #expect(missing.status == .notFound)
            #expect(missing.ociErrorCode == "MANIFEST_UNKNOWN")
            // A reference that cannot be a tag names no manifest: 404 to read (the conformance
            // suite's INVALID_MANIFEST_NAME), 400 to push.
            for method in [HTTPRequest.Method.get, .head] {
                let invalid = try await c.send(method, "/v2/admin/app/manifests/.INVALID_MANIFEST_NAME", token: token)
                #expect(invalid.status == .notFound, "\(method)")
            }
            let invalidGet = try await c.send(.get, "/v2/admin/app/manifests/.INVALID_MANIFEST_NAME", token: token)
            #expect(invalidGet.ociErrorCode == "MANIFEST_UNKNOWN")
            let invalidPut = try await c.send(.put, "/v2/admin/app/manifests/.INVALID_MANIFEST_NAME", token: token,
                                              headers: [.contentType: MediaTypes.ociManifest], body: ByteBuffer(bytes: bytes))
            #expect(invalidPut.status == .badRequest)
            #expect(invalidPut.ociErrorCode == "TAG_INVALID")
        }
    }

    /// Non-distributable layers (OCI's `nondistributable` types, Docker's foreign layers) that
    /// name `urls` are never pushed: the manifest is accepted without them, listed and served.
    /// Without `urls` such a layer must be pushed like any other.
    @Test(arguments: TestBackend.available)
    func nonDistributableLayersNeedNotBePushed(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { _, c in
            let token = try await Self.token(c, "admin/win")
            let config = try await c.pushBlob("admin/win", Array("{}".utf8), token: token)
            let foreign = Digest.sha256(of: Array("a base layer kept elsewhere".utf8))
            func manifest(_ layerType: String, urls: [String]?) -> [UInt8] {
                var layer: [String: Any] = ["mediaType": layerType, "digest": foreign.description, "size": 27]
                if let urls { layer["urls"] = urls }
                let doc: [String: Any] = [
                    "schemaVersion": 2, "mediaType": MediaTypes.ociManifest,
                    "config": ["mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.description, "size": 2],
                    "layers": [layer],
                ]
                return Array(try! JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys]))
            }
            for (tag, type) in [("oci", "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"),
                                ("docker", "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")] {
                let body = manifest(type, urls: ["https://example.invalid/layer"])
                let put = try await c.send(.put, "/v2/admin/win/manifests/\(tag)", token: token,
                                           headers: [.contentType: MediaTypes.ociManifest], body: ByteBuffer(bytes: body))
                #expect(put.status == .created, "\(type): \(String(buffer: put.body))")
                let get = try await c.send(.get, "/v2/admin/win/manifests/\(tag)", token: token)
                #expect(get.status == .ok && Array(buffer: get.body) == body)
                // The layer itself is not here: clients fetch it from its urls.
                #expect(try await c.send(.head, "/v2/admin/win/blobs/\(foreign)", token: token).status == .notFound)
            }
            let tags = try await c.send(.get, "/v2/admin/win/tags/list", token: token)
            #expect((tags.json as? [String: Any])?["tags"] as? [String] == ["docker", "oci"])

            let withoutURLs = try await c.send(.put, "/v2/admin/win/manifests/nourls", token: token, headers: [.contentType: MediaTypes.ociManifest],
                                               body: ByteBuffer(bytes: manifest("application/vnd.oci.image.layer.nondistributable.v1.tar", urls: nil)))
            #expect(withoutURLs.status == .badRequest)
            #expect(withoutURLs.ociErrorCode == "MANIFEST_BLOB_UNKNOWN")
        }
    }

    @Test(arguments: TestBackend.available)
    func putValidation(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.registry.maxManifestBytes = 4096 }) { _, c in
            let token = try await Self.token(c, "admin/app")
            let unknown = Digest.sha256(of: Array("missing".utf8))
            let dangling = TestManifests.image(config: (unknown, 7), layers: [])
            let r1 = try await c.send(.put, "/v2/admin/app/manifests/v1", token: token, headers: [.contentType: MediaTypes.ociManifest],
                                      body: ByteBuffer(bytes: dangling))
            #expect(r1.status == .badRequest)
            #expect(r1.ociErrorCode == "MANIFEST_BLOB_UNKNOWN")

            let config = try await c.pushBlob("admin/app", Array("{}".utf8), token: token)
            let good = TestManifests.image(config: (config, 2), layers: [])
            let wrongDigest = Digest.sha256(of: Array("other".utf8))
            let r2 = try await c.send(.put, "/v2/admin/app/manifests/\(wrongDigest)", token: token, headers: [.contentType: MediaTypes.ociManifest],
                                      body: ByteBuffer(bytes: good))
            #expect(r2.status == .badRequest)
            #expect(r2.ociErrorCode == "DIGEST_INVALID")

            let byDigest = try await c.send(.put, "/v2/admin/app/manifests/\(Digest.sha256(of: good))", token: token,
                                            headers: [.contentType: MediaTypes.ociManifest], body: ByteBuffer(bytes: good))
            #expect(byDigest.status == .created)
            #expect(RegistryClient.path(of: byDigest.headers[.location] ?? "") == "/v2/admin/app/manifests/\(Digest.sha256(of: good))")

            let r3 = try await c.send(.put, "/v2/admin/app/manifests/v1", token: token, headers: [.contentType: MediaTypes.ociManifest],
                                      body: ByteBuffer(string: "{not json"))
            #expect(r3.ociErrorCode == "MANIFEST_INVALID")
            let r4 = try await c.send(.put, "/v2/admin/app/manifests/v1", token: token, headers: [.contentType: "application/x-weird"],
                                      body: ByteBuffer(string: "{\"schemaVersion\":2,\"mediaType\":\"application/x-weird\"}"))
            #expect(r4.status == .unsupportedMediaType)
            let big = ByteBuffer(string: "{\"schemaVersion\":2,\"pad\":\"" + String(repeating: "x", count: 5000) + "\"}")
            let r5 = try await c.send(.put, "/v2/admin/app/manifests/v1", token: token, headers: [.contentType: MediaTypes.ociManifest], body: big)
            #expect(r5.status == .contentTooLarge)
            #expect(r5.ociErrorCode == "MANIFEST_INVALID")
            let r6 = try await c.send(.put, "/v2/admin/app/manifests/.bad", token: token, headers: [.contentType: MediaTypes.ociManifest],
                                      body: ByteBuffer(bytes: good))
            #expect(r6.status == .badRequest)
            #expect(r6.ociErrorCode == "TAG_INVALID")
            // None of the failures created a tag.
            let tags = try await c.send(.get, "/v2/admin/app/tags/list", token: token)
            #expect((tags.json as? [String: Any])?["tags"] as? [String] == [])
        }
    }

    @Test(arguments: TestBackend.available)
    func indexesAndManifestLists(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { _, c in
            let token = try await Self.token(c, "admin/multi")
            let (a, aBytes) = try await c.pushImage("admin/multi", tag: "amd64", token: token)
            let (b, bBytes) = try await c.pushImage("admin/multi", tag: "arm64", token: token)
            let missingChild = Digest.sha256(of: Array("ghost".utf8))
            let bad = TestManifests.index([(a, aBytes.count), (missingChild, 10)])
            let r1 = try await c.send(.put, "/v2/admin/multi/manifests/all", token: token, headers: [.contentType: MediaTypes.ociIndex], body: ByteBuffer(bytes: bad))
            #expect(r1.ociErrorCode == "MANIFEST_BLOB_UNKNOWN")

            for (type, tag) in [(MediaTypes.ociIndex, "oci"), (MediaTypes.dockerManifestList, "docker")] {
                let index = TestManifests.index([(a, aBytes.count), (b, bBytes.count)], mediaType: type)
                let put = try await c.send(.put, "/v2/admin/multi/manifests/\(tag)", token: token, headers: [.contentType: type], body: ByteBuffer(bytes: index))
                #expect(put.status == .created)
                let digest = Digest.sha256(of: index)
                let get = try await c.send(.get, "/v2/admin/multi/manifests/\(digest)", token: token)
                #expect(get.headers[.contentType] == type)
                #expect(Array(buffer: get.body) == index)
            }
            let child = try await c.send(.get, "/v2/admin/multi/manifests/\(b)", token: token)
            #expect(Array(buffer: child.body) == bBytes)
        }
    }

    @Test(arguments: TestBackend.available, TestStorageKind.available)
    func deleteByTagAndDigest(backend: TestBackend, storage: TestStorageKind) async throws {
        try await TestRegistry.with(backend, storage: storage) { _, c in
            let token = try await Self.token(c, "admin/app")
            let (digest, _) = try await c.pushImage("admin/app", tag: "v1", token: token)
            let put2 = try await c.send(.get, "/v2/admin/app/manifests/v1", token: token)
            _ = try await c.send(.put, "/v2/admin/app/manifests/v2", token: token, headers: [.contentType: MediaTypes.ociManifest], body: put2.body)

            #expect(try await c.send(.delete, "/v2/admin/app/manifests/v1", token: token).status == .accepted)
            #expect(try await c.send(.get, "/v2/admin/app/manifests/v1", token: token).status == .notFound)
            #expect(try await c.send(.get, "/v2/admin/app/manifests/v2", token: token).status == .ok)
            #expect(try await c.send(.delete, "/v2/admin/app/manifests/v1", token: token).status == .notFound)

            #expect(try await c.send(.delete, "/v2/admin/app/manifests/\(digest)", token: token).status == .accepted)
            #expect(try await c.send(.get, "/v2/admin/app/manifests/v2", token: token).status == .notFound)
            #expect(try await c.send(.get, "/v2/admin/app/manifests/\(digest)", token: token).status == .notFound)

            // Pushing the same manifest again brings it back.
            let again = try await c.send(.put, "/v2/admin/app/manifests/v3", token: token, headers: [.contentType: MediaTypes.ociManifest], body: put2.body)
            #expect(again.status == .created)
            #expect(try await c.send(.get, "/v2/admin/app/manifests/\(digest)", token: token).status == .ok)
        }
    }

    @Test(arguments: TestBackend.available)
    func tagMovesKeepOneLiveRow(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let token = try await Self.token(c, "admin/app")
            let (first, _) = try await c.pushImage("admin/app", tag: "latest", token: token)
            let (second, _) = try await c.pushImage("admin/app", tag: "latest", token: token)
            #expect(first != second)
            let get = try await c.send(.get, "/v2/admin/app/manifests/latest", token: token)
            #expect(get.headers[Self.digestHeader] == second.description)
            let repo = try #require(try await registry.services.accounts.repository(RepositoryPath(namespace: "admin", name: "app")))
            let rows = try await registry.services.store.database.read { db in
                try await db.raw("SELECT lifetime_end FROM tags WHERE repository_id = \(bind: repo.id) AND name = 'latest'").all()
            }
            #expect(rows.count == 2)
            #expect(try rows.filter { try $0.decode(column: "lifetime_end", as: Int64?.self) == nil }.count == 1)
        }
    }

    @Test(arguments: TestBackend.available)
    func tagListPagination(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { _, c in
            let token = try await Self.token(c, "admin/app")
            let (_, manifest) = try await c.pushImage("admin/app", tag: "t00", token: token)
            for i in 1..<7 {
                _ = try await c.send(.put, "/v2/admin/app/manifests/t0\(i)", token: token, headers: [.contentType: MediaTypes.ociManifest],
                                     body: ByteBuffer(bytes: manifest))
            }
            let all = try await c.send(.get, "/v2/admin/app/tags/list", token: token)
            #expect((all.json as? [String: Any])?["tags"] as? [String] == (0..<7).map { "t0\($0)" })
            #expect(all.headers[.link] == nil)

            let page1 = try await c.send(.get, "/v2/admin/app/tags/list?n=3", token: token)
            #expect((page1.json as? [String: Any])?["tags"] as? [String] == ["t00", "t01", "t02"])
            #expect(page1.headers[.link] == "</v2/admin/app/tags/list?n=3&last=t02>; rel=\"next\"")
            let page2 = try await c.send(.get, "/v2/admin/app/tags/list?n=3&last=t02", token: token)
            #expect((page2.json as? [String: Any])?["tags"] as? [String] == ["t03", "t04", "t05"])
            let page3 = try await c.send(.get, "/v2/admin/app/tags/list?n=3&last=t05", token: token)
            #expect((page3.json as? [String: Any])?["tags"] as? [String] == ["t06"])
            #expect(page3.headers[.link] == nil)
            #expect(try await c.send(.get, "/v2/admin/app/tags/list?n=-1", token: token).status == .badRequest)
        }
    }

    @Test(arguments: TestBackend.available)
    func catalogShowsOnlyVisibleRepositories(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            try await registry.createUser("bob")
            let adminToken = try await Self.token(c, "admin/secret", "admin/open")
            try await c.pushImage("admin/secret", tag: "v1", token: adminToken)
            try await c.pushImage("admin/open", tag: "v1", token: adminToken)
            let open = try #require(try await registry.services.accounts.repository(RepositoryPath(namespace: "admin", name: "open")))
            try await registry.services.accounts.setVisibility(repositoryID: open.id, .public)
            let bobToken = try #require(try await c.token(.init("bob"), scopes: ["repository:bob/mine:pull,push", "registry:catalog:*"]))
            try await c.pushImage("bob/mine", tag: "v1", token: bobToken)

            func catalog(_ token: String?) async throws -> [String] {
                let r = try await c.send(.get, "/v2/_catalog", token: token)
                return (r.json as? [String: Any])?["repositories"] as? [String] ?? []
            }
            #expect(try await catalog(adminToken) == ["admin/open", "admin/secret"])
            #expect(try await catalog(bobToken) == ["admin/open", "bob/mine"])
            #expect(try await catalog(nil) == ["admin/open"])
            let paged = try await c.send(.get, "/v2/_catalog?n=1", token: adminToken)
            #expect(paged.headers[.link] == "</v2/_catalog?n=1&last=admin/open>; rel=\"next\"")
        }
    }

    @Test(arguments: TestBackend.available)
    func referrers(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { _, c in
            let token = try await Self.token(c, "admin/app")
            let (subject, subjectBytes) = try await c.pushImage("admin/app", tag: "v1", token: token)
            let config = try await c.pushBlob("admin/app", Array("{}".utf8), token: token)
            var referrerDigests: [String: Digest] = [:]
            for type in ["application/vnd.example.sbom", "application/vnd.example.sig"] {
                let manifest = TestManifests.image(config: (config, 2), layers: [], subject: (subject, subjectBytes.count), artifactType: type)
                let digest = Digest.sha256(of: manifest)
                let put = try await c.send(.put, "/v2/admin/app/manifests/\(digest)", token: token, headers: [.contentType: MediaTypes.ociManifest],
                                           body: ByteBuffer(bytes: manifest))
                #expect(put.status == .created)
                #expect(put.headers[HTTPField.Name("OCI-Subject")!] == subject.description)
                referrerDigests[type] = digest
            }
            let all = try await c.send(.get, "/v2/admin/app/referrers/\(subject)", token: token)
            #expect(all.status == .ok)
            #expect(all.headers[.contentType] == MediaTypes.ociIndex)
            let manifests = try #require((all.json as? [String: Any])?["manifests"] as? [[String: Any]])
            #expect(Set(manifests.compactMap { $0["artifactType"] as? String }) == ["application/vnd.example.sbom", "application/vnd.example.sig"])

            let filtered = try await c.send(.get, "/v2/admin/app/referrers/\(subject)?artifactType=application/vnd.example.sig", token: token)
            #expect(filtered.headers[HTTPField.Name("OCI-Filters-Applied")!] == "artifactType")
            let only = try #require((filtered.json as? [String: Any])?["manifests"] as? [[String: Any]])
            #expect(only.map { $0["digest"] as? String } == [referrerDigests["application/vnd.example.sig"]?.description])

            let none = try await c.send(.get, "/v2/admin/app/referrers/\(Digest.sha256(of: Array("x".utf8)))", token: token)
            #expect(none.status == .ok)
            #expect(((none.json as? [String: Any])?["manifests"] as? [Any])?.isEmpty == true)
        }
    }
}
