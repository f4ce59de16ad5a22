import AsyncHTTPClient
import Foundation
import NIOCore
@testable import ObjectStorage
import SlipwayCore
import SlipwayTestSupport
import Testing

/// What only the S3 driver has: start-up checks, outages, multipart housekeeping, presigned
/// downloads. The shared contract is `BlobStorageConformanceTests` (RegistryTests), run on both
/// drivers. Every test here talks to a real moto_server, checking signatures except where a
/// key prefix is the subject (see `MotoServer.with`).
@Suite("S3 blob storage", .enabled(if: MotoServer.available, "moto_server is not installed"))
struct S3BlobStorageTests {
    static func upload(_ storage: S3BlobStorage, _ bytes: [UInt8]) async throws -> Digest {
        let id = UUID().uuidString.lowercased()
        try await storage.createUpload(id)
        let writer = try await storage.uploadWriter(id, at: 0)
        try await writer.write(ByteBuffer(bytes: bytes))
        _ = try await writer.commit()
        let digest = Digest.sha256(of: bytes)
        try await storage.commitUpload(id, as: digest)
        return digest
    }

    @Test func wrongSecretStopsStartUpNamingTheKey() async throws {
        try await MotoServer.with { moto in
            try await moto.storage().verify()
            do {
                try await moto.storage(secretKey: "not-the-secret").verify()
                Issue.record("a wrong secret was accepted")
            } catch let error as S3ConfigurationError {
                #expect(error.key == "storage.s3.secretKey")
                #expect(error.description == "storage.s3.secretKey: S3 refused the signature (SignatureDoesNotMatch)")
                #expect(!error.description.contains(moto.secretKey))
            }
            // Every request is signed: a wrong secret cannot read either.
            await #expect(throws: S3Error.self) { _ = try await moto.storage(secretKey: "not-the-secret").stat(Digest.sha256(of: [1])) }
        }
    }

    @Test func missingBucketStopsStartUpNamingTheKey() async throws {
        try await MotoServer.with { moto in
            do {
                try await moto.storage(bucket: "no-such-bucket").verify()
                Issue.record("a missing bucket was accepted")
            } catch let error as S3ConfigurationError {
                #expect(error.description == "storage.s3.bucket: bucket 'no-such-bucket' does not exist")
            }
        }
    }

    /// S3 down: every call fails with `unavailable` after its retries, never with a hang.
    @Test func unreachableEndpointIsUnavailable() async throws {
        let port = try MotoServer.freePort()
        var client = try S3Client(endpoint: S3Endpoint(url: "http://127.0.0.1:\(port)", region: "us-east-1", bucket: "b", pathStyle: true),
                                  credentials: S3Credentials(accessKey: "a", secretKey: "s"), logger: .init(label: "test"))
        client.initialBackoff = .milliseconds(10)
        // No requestTimeout here: the default client must fail a refused connection at once.
        let storage = S3BlobStorage(client: client)
        let started = ContinuousClock.now
        await #expect(throws: BlobStorageError.self) { _ = try await storage.stat(Digest.sha256(of: [1])) }
        // Quiet, this takes about a second; a client that retries refused connections until the
        // request deadline (60 s) would take over 4 minutes for the 4 attempts. The bound leaves
        // room for a loaded CI machine.
        #expect(ContinuousClock.now - started < .seconds(120), "an outage is reported after the retries, not after the request deadline")
        do {
            try await storage.verify()
            Issue.record("verify passed without S3")
        } catch let error as S3ConfigurationError {
            #expect(error.key == "storage.s3.endpoint")
        }
    }

    /// A cancelled writer that had started a multipart upload aborts it; one dropped without
    /// commit or cancel (its replica died) leaves one the collector pass aborts.
    @Test func cancelledWritersLeaveNoMultipartUploadAndTheCollectorAbortsStaleOnes() async throws {
        try await MotoServer.with(checkSignatures: false) { moto in
            let storage = try moto.storage(prefix: "reg")
            let id = UUID().uuidString.lowercased()
            try await storage.createUpload(id)
            let writer = try await storage.uploadWriter(id, at: 0)
            try await writer.write(ByteBuffer(repeating: 1, count: 6 * 1024 * 1024))
            #expect(try await storage.client.listMultipartUploads(prefix: "reg/").count == 1)
            await writer.cancel()
            #expect(try await storage.client.listMultipartUploads(prefix: "reg/").isEmpty)

            // A stale one, as a dead replica leaves it, and one outside the prefix that is not ours.
            _ = try await storage.client.createMultipartUpload(S3BlobStorage.chunkKey(try storage.uploadPrefix(id), offset: 0))
            _ = try await storage.client.createMultipartUpload("elsewhere/object")
            let pass = StaleMultipartUploadPass(storage: storage)
            var settings = CollectorSettings()
            settings.uploadIdleSeconds = 3600
            // Age is S3's `Initiated` date, whatever the server's clock (moto reports a fixed
            // date in 2010): "now" is taken relative to it.
            let initiated = try #require(try await storage.client.listMultipartUploads(prefix: "reg/").first?.initiated)
            let now = Int64(initiated.timeIntervalSince1970 * 1000) + 60_000
            #expect(try await pass.run(now: now, settings: settings).staleMultipartUploadsAborted == 0, "fresh uploads are kept")
            let later = now + 2 * 3600 * 1000
            #expect(try await pass.run(now: later, settings: settings).staleMultipartUploadsAborted == 1)
            #expect(try await storage.client.listMultipartUploads(prefix: "reg/").isEmpty)
            #expect(try await storage.client.listMultipartUploads(prefix: "elsewhere/").count == 1)
        }
    }

    /// Chunks of a finished upload are deleted; only the blob remains under the prefix.
    @Test func publicationLeavesOnlyTheBlob() async throws {
        try await MotoServer.with(checkSignatures: false) { moto in
            let storage = try moto.storage(prefix: "reg")
            let digest = try await Self.upload(storage, Array(repeating: 7, count: 1000))
            let keys = try await storage.client.list(prefix: "").map(\.key)
            #expect(keys == [storage.blobKey(digest)])
            #expect(keys.first?.hasPrefix("reg/blobs/sha256/\(digest.hex.prefix(2))/") == true)
        }
    }

    /// Unchecked: moto answers 500 to every presigned URL while it checks signatures (boto3's
    /// too). The presigned signature itself is checked against AWS's example in SigV4SignerTests.
    @Test func presignedDownloadServesTheBytesWithoutCredentials() async throws {
        try await MotoServer.with(checkSignatures: false) { moto in
            let bytes = (0..<50_000).map { UInt8($0 % 253) }
            let plain = try moto.storage()
            let digest = try await Self.upload(plain, bytes)
            #expect(try await plain.downloadRedirect(digest) == nil, "redirects are opt-in")
            let redirecting = try moto.storage(redirectDownloads: true)
            let url = try #require(try await redirecting.downloadRedirect(digest))
            #expect(url.query?.contains("X-Amz-Signature=") == true)
            #expect(!url.absoluteString.contains(moto.secretKey))
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url.absoluteString), timeout: .seconds(30))
            #expect(response.status == .ok)
            #expect(Array(buffer: try await response.body.collect(upTo: 1 << 20)) == bytes)
        }
    }
}
