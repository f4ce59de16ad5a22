import Foundation
import Accounts
import HTTPTypes
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Blob and upload endpoints at the HTTP level, on every metadata backend and blob storage driver.
@Suite("Blobs and uploads")
struct BlobProtocolTests {
    static let repo = "admin/app"
    static let admin = RegistryClient.Credentials(TestRegistry.adminName)

    static func pushToken(_ c: RegistryClient, _ repo: String = repo) async throws -> String {
        try #require(try await c.token(admin, scopes: ["repository:\(repo):pull,push,*"]))
    }

    @Test(arguments: TestBackend.available, TestStorageKind.available)
    func monolithicPushHeadGetAndRange(backend: TestBackend, storage: TestStorageKind) async throws {
        try await TestRegistry.with(backend, storage: storage) { _, c in
            let token = try await Self.pushToken(c)
            let bytes = (0..<100_000).map { UInt8($0 % 251) }
            let digest = try await c.pushBlob(Self.repo, bytes, token: token)

            let head = try await c.send(.head, "/v2/\(Self.repo)/blobs/\(digest)", token: token)
            #expect(head.status == .ok)
            #expect(head.headers[.contentLength] == "100000")
            #expect(head.headers[HTTPField.Name("Docker-Content-Digest")!] == digest.description)
            #expect(head.body.readableBytes == 0)

            let get = try await c.send(.get, "/v2/\(Self.repo)/blobs/\(digest)", token: token)
            #expect(get.status == .ok)
            #expect(Array(buffer: get.body) == bytes)

            let ranged = try await c.send(.get, "/v2/\(Self.repo)/blobs/\(digest)", token: token, headers: [HTTPField.Name("Range")!: "bytes=10-19"])
            #expect(ranged.status == .partialContent)
            #expect(Array(buffer: ranged.body) == Array(bytes[10...19]))
            #expect(ranged.headers[HTTPField.Name("Content-Range")!] == "bytes 10-19/100000")

            let bad = try await c.send(.get, "/v2/\(Self.repo)/blobs/\(digest)", token: token, headers: [HTTPField.Name("Range")!: "bytes=200000-"])
            #expect(bad.status == .rangeNotSatisfiable)

            let unknown = Digest.sha256(of: Array("nope".utf8))
            let missing = try await c.send(.get, "/v2/\(Self.repo)/blobs/\(unknown)", token: token)
            #expect(missing.status == .notFound)
            #expect(missing.ociErrorCode == "BLOB_UNKNOWN")
        }
    }

    /// A link whose bytes were never published (a replica died between linking and publishing)
    /// is invisible: HEAD answers 404 and a mount from it falls back to an upload, so no client
    /// skips sending bytes that are not there.
    @Test(arguments: TestBackend.available)
    func aLinkWithoutBytesIsNeitherServedNorMounted(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let token = try #require(try await c.token(Self.admin, scopes: ["repository:admin/src:pull,push", "repository:admin/dst:pull,push"]))
            _ = try await c.pushBlob("admin/src", Array("make the repository".utf8), token: token)
            let source = try #require(try await registry.services.accounts.repository(try RepositoryPath(parsing: "admin/src")))
            let digest = Digest.sha256(of: Array("never published".utf8))
            try await registry.services.store.linkBlob(repositoryID: source.id, digest: digest, size: 15)
            #expect(try await c.send(.head, "/v2/admin/src/blobs/\(digest)", token: token).status == .notFound)
            let mount = try await c.send(.post, "/v2/admin/dst/blobs/uploads/?mount=\(digest)&from=admin/src", token: token)
            #expect(mount.status == .accepted, "not mountable: an upload starts instead")
        }
    }

    /// One writer per upload across replicas: while another writer (a PATCH on another replica)
    /// holds the upload's row claim, this replica's PATCH and PUT are refused with 416 and
    /// change nothing; once the claim is released the upload continues, and a refused or failed
    /// request leaves no claim behind.
    @Test(arguments: TestBackend.available)
    func anUploadClaimedByAnotherWriterIsRefusedUntilReleased(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let token = try await Self.pushToken(c)
            let start = try await c.send(.post, "/v2/\(Self.repo)/blobs/uploads/", token: token)
            let location = try #require(start.headers[.location])
            let id = try #require(start.headers[HTTPField.Name("Docker-Upload-UUID")!])
            let store = registry.services.store
            #expect(try await store.claimUpload(id: id, size: 0, writer: "replica-b") == "")
            #expect(try await store.claimUpload(id: id, size: 0, writer: "replica-c") == nil, "one claim at a time")

            let refused = try await c.send(.patch, location, token: token, body: ByteBuffer(string: "abc"))
            #expect(refused.status == .rangeNotSatisfiable)
            #expect(refused.ociErrorCode == "BLOB_UPLOAD_INVALID")
            let digest = Digest.sha256(of: Array("abc".utf8))
            let refusedPut = try await c.send(.put, location + "?digest=\(digest)", token: token, body: ByteBuffer(string: "abc"))
            #expect(refusedPut.status == .rangeNotSatisfiable)
            #expect(try await store.upload(id: id)?.size == 0)

            try await store.releaseUploadClaim(id: id, writer: "replica-b")
            let badRange = try await c.send(.patch, location, token: token, headers: [HTTPField.Name("Content-Range")!: "0-9"],
                                            body: ByteBuffer(string: "abc"))
            #expect(badRange.status == .badRequest, "3 bytes sent, 10 announced")
            let patched = try await c.send(.patch, location, token: token, body: ByteBuffer(string: "abc"))
            #expect(patched.status == .accepted)
            let put = try await c.send(.put, location + "?digest=\(digest)", token: token)
            #expect(put.status == .created)
            #expect(try await store.upload(id: id) == nil)
        }
    }

    @Test(arguments: TestBackend.available, TestStorageKind.available)
    func chunkedUploadWithContentRangeChecks(backend: TestBackend, storage: TestStorageKind) async throws {
        try await TestRegistry.with(backend, storage: storage) { _, c in
            let token = try await Self.pushToken(c)
            let start = try await c.send(.post, "/v2/\(Self.repo)/blobs/uploads/", token: token)
            #expect(start.status == .accepted)
            #expect(start.headers[HTTPField.Name("Range")!] == "0-0")
            let location = try #require(start.headers[.location])
            let part1 = Array(repeating: UInt8(1), count: 1000), part2 = Array(repeating: UInt8(2), count: 500)

            let p1 = try await c.send(.patch, location, token: token, headers: [HTTPField.Name("Content-Range")!: "0-999"], body: ByteBuffer(bytes: part1))
            #expect(p1.status == .accepted)
            #expect(p1.headers[HTTPField.Name("Range")!] == "0-999")

            // Wrong offset: 416 with the current range, nothing appended.
            let wrong = try await c.send(.patch, location, token: token, headers: [HTTPField.Name("Content-Range")!: "500-999"], body: ByteBuffer(bytes: part2))
            #expect(wrong.status == .rangeNotSatisfiable)
            #expect(wrong.headers[HTTPField.Name("Range")!] == "0-999")

            // Length disagreeing with Content-Range: rejected, nothing appended.
            let short = try await c.send(.patch, location, token: token, headers: [HTTPField.Name("Content-Range")!: "1000-1999"], body: ByteBuffer(bytes: part2))
            #expect(short.status == .badRequest)
            #expect(short.ociErrorCode == "BLOB_UPLOAD_INVALID")

            let status = try await c.send(.get, location, token: token)
            #expect(status.status == .noContent)
            #expect(status.headers[HTTPField.Name("Range")!] == "0-999")

            let p2 = try await c.send(.patch, location, token: token, body: ByteBuffer(bytes: part2))
            #expect(p2.headers[HTTPField.Name("Range")!] == "0-1499")

            let all = part1 + part2
            let digest = Digest.sha256(of: all)
            let put = try await c.send(.put, location + "?digest=\(digest)", token: token)
            #expect(put.status == .created)
            #expect(RegistryClient.path(of: put.headers[.location] ?? "") == "/v2/\(Self.repo)/blobs/\(digest)")
            let get = try await c.send(.get, "/v2/\(Self.repo)/blobs/\(digest)", token: token)
            #expect(Array(buffer: get.body) == all)

            // The finished upload is gone.
            let after = try await c.send(.get, location, token: token)
            #expect(after.status == .notFound)
            #expect(after.ociErrorCode == "BLOB_UPLOAD_UNKNOWN")
        }
    }

    @Test(arguments: TestBackend.available, TestStorageKind.available)
    func postThenPutWithBodyAndSha512(backend: TestBackend, storage: TestStorageKind) async throws {
        try await TestRegistry.with(backend, storage: storage) { _, c in
            let token = try await Self.pushToken(c)
            let bytes = Array("sha512 content".utf8)
            let digest = Digest.compute(.sha512, of: bytes)
            let start = try await c.send(.post, "/v2/\(Self.repo)/blobs/uploads/", token: token)
            let location = try #require(start.headers[.location])
            let put = try await c.send(.put, location + "?digest=\(digest)", token: token, body: ByteBuffer(bytes: bytes))
            #expect(put.status == .created)
            let head = try await c.send(.head, "/v2/\(Self.repo)/blobs/\(digest)", token: token)
            #expect(head.status == .ok)
        }
    }

    @Test(arguments: TestBackend.available, TestStorageKind.available)
    func digestMismatchLeavesNothingVisible(backend: TestBackend, storage: TestStorageKind) async throws {
        try await TestRegistry.with(backend, storage: storage) { registry, c in
            let token = try await Self.pushToken(c)
            let claimed = Digest.sha256(of: Array("what I claim".utf8))
            let mono = try await c.send(.post, "/v2/\(Self.repo)/blobs/uploads/?digest=\(claimed)", token: token, body: ByteBuffer(string: "something else"))
            #expect(mono.status == .badRequest)
            #expect(mono.ociErrorCode == "DIGEST_INVALID")
            #expect(try await c.send(.head, "/v2/\(Self.repo)/blobs/\(claimed)", token: token).status == .notFound)
            #expect(try await registry.services.storage.stat(claimed) == nil)

            let start = try await c.send(.post, "/v2/\(Self.repo)/blobs/uploads/", token: token)
            let location = try #require(start.headers[.location])
            let put = try await c.send(.put, location + "?digest=\(claimed)", token: token, body: ByteBuffer(string: "other bytes"))
            #expect(put.ociErrorCode == "DIGEST_INVALID")
            #expect(try await c.send(.head, "/v2/\(Self.repo)/blobs/\(claimed)", token: token).status == .notFound)
            #expect(try await registry.services.store.uploadsInProgress() == 0)

            let noDigest = try await c.send(.post, "/v2/\(Self.repo)/blobs/uploads/", token: token)
            let loc2 = try #require(noDigest.headers[.location])
            let missingParam = try await c.send(.put, loc2, token: token)
            #expect(missingParam.status == .badRequest)
            #expect(missingParam.ociErrorCode == "BLOB_UPLOAD_INVALID")
            let badDigest = try await c.send(.put, loc2 + "?digest=sha256:zz", token: token)
            #expect(badDigest.ociErrorCode == "DIGEST_INVALID")
        }
    }

    @Test(arguments: TestBackend.available, TestStorageKind.available)
    func cancelAndUnknownUploads(backend: TestBackend, storage: TestStorageKind) async throws {
        try await TestRegistry.with(backend, storage: storage) { registry, c in
            let token = try await Self.pushToken(c)
            let start = try await c.send(.post, "/v2/\(Self.repo)/blobs/uploads/", token: token)
            let location = try #require(start.headers[.location])
            _ = try await c.send(.patch, location, token: token, body: ByteBuffer(string: "partial"))
            #expect(try await c.send(.delete, location, token: token).status == .noContent)
            let gone = try await c.send(.get, location, token: token)
            #expect(gone.status == .notFound)
            #expect(gone.ociErrorCode == "BLOB_UPLOAD_UNKNOWN")
            #expect(try await registry.services.store.uploadsInProgress() == 0)
            for uri in ["/v2/\(Self.repo)/blobs/uploads/does-not-exist", "/v2/\(Self.repo)/blobs/uploads/..%2f..%2fetc"] {
                let r = try await c.send(.patch, uri, token: token, body: ByteBuffer(string: "x"))
                #expect(r.status == .notFound || r.status == .badRequest, "\(uri) → \(r.status)")
            }
        }
    }

    /// Quay sends absolute `Location` URLs on uploads, mounts and manifest pushes, and
    /// docker-registry-client-async cannot follow a relative one. `server.publicURL` names them
    /// whatever Host the client sent (the test client sends `localhost`); without it they derive
    /// from the request.
    @Test(arguments: TestBackend.available)
    func locationsAreAbsoluteURLsOfTheConfiguredIdentity(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.server.publicURL = "https://registry.example.test:8443/" }) { _, c in
            let token = try #require(try await c.token(Self.admin, scopes: ["repository:\(Self.repo):pull,push", "repository:admin/dst:pull,push"]))
            let base = "https://registry.example.test:8443/v2"
            let start = try await c.send(.post, "/v2/\(Self.repo)/blobs/uploads/", token: token)
            let location = try #require(start.headers[.location])
            #expect(location.hasPrefix("\(base)/\(Self.repo)/blobs/uploads/"))
            let patch = try await c.send(.patch, location, token: token, body: ByteBuffer(string: "chunk"))
            #expect(patch.headers[.location] == location)
            #expect(try await c.send(.get, location, token: token).headers[.location] == location)
            let digest = Digest.sha256(of: Array("chunk".utf8))
            let put = try await c.send(.put, location + "?digest=\(digest)", token: token)
            #expect(put.status == .created)
            #expect(put.headers[.location] == "\(base)/\(Self.repo)/blobs/\(digest)")
            let mount = try await c.send(.post, "/v2/admin/dst/blobs/uploads/?mount=\(digest)&from=\(Self.repo)", token: token)
            #expect(mount.headers[.location] == "\(base)/admin/dst/blobs/\(digest)")
            let monolithic = try await c.send(.post, "/v2/admin/dst/blobs/uploads/?digest=\(digest)", token: token, body: ByteBuffer(string: "chunk"))
            #expect(monolithic.headers[.location] == "\(base)/admin/dst/blobs/\(digest)")
        }
        try await TestRegistry.with(backend) { _, c in
            let token = try #require(try await c.token(Self.admin, scopes: ["repository:\(Self.repo):pull,push"]))
            // The router test client addresses the server as `localhost`.
            let start = try await c.send(.post, "/v2/\(Self.repo)/blobs/uploads/", token: token)
            #expect(start.headers[.location]?.hasPrefix("http://localhost/v2/\(Self.repo)/blobs/uploads/") == true)
        }
    }

    @Test(arguments: TestBackend.available, TestStorageKind.available)
    func crossRepositoryMount(backend: TestBackend, storage: TestStorageKind) async throws {
        try await TestRegistry.with(backend, storage: storage) { registry, c in
            try await registry.createUser("bob")
            let token = try #require(try await c.token(Self.admin, scopes: ["repository:admin/src:pull,push", "repository:admin/dst:pull,push"]))
            let digest = try await c.pushBlob("admin/src", Array("shared layer".utf8), token: token)
            let mount = try await c.send(.post, "/v2/admin/dst/blobs/uploads/?mount=\(digest)&from=admin/src", token: token)
            #expect(mount.status == .created)
            #expect(RegistryClient.path(of: mount.headers[.location] ?? "") == "/v2/admin/dst/blobs/\(digest)")
            #expect(try await c.send(.head, "/v2/admin/dst/blobs/\(digest)", token: token).status == .ok)

            // bob may not read admin/src: the mount silently becomes a normal upload.
            let bobToken = try #require(try await c.token(.init("bob"), scopes: ["repository:bob/dst:pull,push", "repository:admin/src:pull"]))
            let fallback = try await c.send(.post, "/v2/bob/dst/blobs/uploads/?mount=\(digest)&from=admin/src", token: bobToken)
            #expect(fallback.status == .accepted)
            #expect(try await c.send(.head, "/v2/bob/dst/blobs/\(digest)", token: bobToken).status == .notFound)

            // Unknown blob: also a normal upload.
            let unknown = Digest.sha256(of: Array("never pushed".utf8))
            let none = try await c.send(.post, "/v2/admin/dst/blobs/uploads/?mount=\(unknown)&from=admin/src", token: token)
            #expect(none.status == .accepted)
        }
    }

    @Test(arguments: TestBackend.available)
    func identicalBlobsAreStoredOnceAndDeleteUnlinks(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let token = try #require(try await c.token(Self.admin, scopes: ["repository:admin/one:pull,push,*", "repository:admin/two:pull,push"]))
            let bytes = Array("same bytes".utf8)
            let d1 = try await c.pushBlob("admin/one", bytes, token: token)
            let d2 = try await c.pushBlob("admin/two", bytes, token: token)
            #expect(d1 == d2)
            let files = try FileManager.default.subpathsOfDirectory(atPath: registry.directory + "/storage/blobs/sha256").filter { $0.contains(d1.hex) }
            #expect(files.count == 1)

            let del = try await c.send(.delete, "/v2/admin/one/blobs/\(d1)", token: token)
            #expect(del.status == .accepted)
            #expect(try await c.send(.head, "/v2/admin/one/blobs/\(d1)", token: token).status == .notFound)
            #expect(try await c.send(.head, "/v2/admin/two/blobs/\(d1)", token: token).status == .ok)
        }
    }

    @Test(arguments: TestBackend.available, TestStorageKind.available)
    func blobSizeCap(backend: TestBackend, storage: TestStorageKind) async throws {
        try await TestRegistry.with(backend, storage: storage, configure: { $0.registry.maxBlobBytes = 1000 }) { registry, c in
            let token = try await Self.pushToken(c)
            let bytes = Array(repeating: UInt8(7), count: 2000)
            let r = try await c.send(.post, "/v2/\(Self.repo)/blobs/uploads/?digest=\(Digest.sha256(of: bytes))", token: token, body: ByteBuffer(bytes: bytes))
            #expect(r.status == .contentTooLarge)
            #expect(r.ociErrorCode == "SIZE_INVALID")
            #expect(try await registry.services.store.uploadsInProgress() == 0)
        }
    }
}
