import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import ObjectStorage
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// The registry on S3 storage where it differs from the filesystem: an S3 outage during a push,
/// presigned download redirects, and the start-up check. (The /v2 blob protocol tests run on
/// both drivers in `BlobProtocolTests`.)
@Suite("Registry on S3 storage", .enabled(if: MotoServer.available, "moto_server is not installed"))
struct S3StorageRegistryTests {
    static let repo = "admin/app"
    static let admin = RegistryClient.Credentials(TestRegistry.adminName)

    /// S3 down mid-push: the client gets a retriable 503 with an OCI error body, and nothing of
    /// the push is visible once S3 is back.
    @Test(arguments: TestBackend.available)
    func s3OutageDuringAPushIsA503AndLeavesNothingVisible(backend: TestBackend) async throws {
        try await MotoServer.withPrivateServer { moto in
            try await TestRegistry.with(backend, configure: { moto.configure(&$0) }) { _, c in
                let token = try #require(try await c.token(Self.admin, scopes: ["repository:\(Self.repo):pull,push,*"]))
                let start = try await c.send(.post, "/v2/\(Self.repo)/blobs/uploads/", token: token)
                #expect(start.status == .accepted)
                let location = try #require(start.headers[.location])
                let first = try await c.send(.patch, location, token: token, body: ByteBuffer(string: "first chunk;"))
                #expect(first.status == .accepted)

                #expect(try await c.send(.get, "/health/instance").status == .ok)
                moto.stop()
                let health = try await c.send(.get, "/health/instance")
                #expect(health.status == .serviceUnavailable, "the health check asks S3, not a local directory")
                #expect(String(buffer: health.body).contains("\"storage\":false"))
                let bytes = Array("first chunk;second chunk".utf8)
                let digest = Digest.sha256(of: bytes)
                let put = try await c.send(.put, location + "?digest=\(digest)", token: token, body: ByteBuffer(string: "second chunk"))
                #expect(put.status == .serviceUnavailable)
                #expect(put.ociErrorCode == "UNAVAILABLE")
                #expect(put.headers[.retryAfter] != nil)
                let mono = try await c.send(.post, "/v2/\(Self.repo)/blobs/uploads/?digest=\(digest)", token: token, body: ByteBuffer(bytes: bytes))
                #expect(mono.status == .serviceUnavailable)
                #expect(mono.ociErrorCode == "UNAVAILABLE")
                #expect(try await c.send(.head, "/v2/\(Self.repo)/blobs/\(digest)", token: token).status == .notFound)
            }
        }
    }

    /// Unchecked: moto answers 500 to every presigned URL while it checks signatures (boto3's
    /// too). The presigned signature itself is checked against AWS's example in SigV4SignerTests.
    @Test(arguments: TestBackend.available)
    func blobGetRedirectsToAPresignedURLAndHeadStaysLocal(backend: TestBackend) async throws {
        try await MotoServer.with(checkSignatures: false) { moto in
            try await TestRegistry.with(backend, configure: { moto.configure(&$0); $0.storage.s3.redirectDownloads = true }) { _, c in
                let token = try #require(try await c.token(Self.admin, scopes: ["repository:\(Self.repo):pull,push,*"]))
                let bytes = (0..<70_000).map { UInt8($0 % 249) }
                let digest = try await c.pushBlob(Self.repo, bytes, token: token)

                let head = try await c.send(.head, "/v2/\(Self.repo)/blobs/\(digest)", token: token)
                #expect(head.status == .ok)
                #expect(head.headers[.contentLength] == "70000")

                let get = try await c.send(.get, "/v2/\(Self.repo)/blobs/\(digest)", token: token)
                #expect(get.status == .temporaryRedirect)
                let location = try #require(get.headers[.location])
                #expect(location.hasPrefix(moto.endpoint))
                let followed = try await HTTPClient.shared.execute(HTTPClientRequest(url: location), timeout: .seconds(30))
                #expect(followed.status == .ok)
                #expect(Array(buffer: try await followed.body.collect(upTo: 1 << 20)) == bytes)

                // Without permission there is no redirect to follow.
                let anonymous = try await c.send(.get, "/v2/\(Self.repo)/blobs/\(digest)")
                #expect(anonymous.status == .unauthorized)
            }
        }
    }

    /// What `slipway serve` does first: a wrong secret or bucket stops start-up naming the key.
    @Test func startUpRefusesAWrongSecretOrBucket() async throws {
        try await MotoServer.with { moto in
            var config = SlipwayConfig()
            moto.configure(&config)
            _ = try await BlobStorageFactory.make(config: config, environment: [:], logger: TestRegistry.logger)

            var wrongSecret = config
            wrongSecret.storage.s3.secretKey = "wrong"
            await #expect { try await BlobStorageFactory.make(config: wrongSecret, environment: [:], logger: TestRegistry.logger) } throws: {
                "\($0)" == "storage.s3.secretKey: S3 refused the signature (SignatureDoesNotMatch)"
            }
            var noBucket = config
            noBucket.storage.s3.bucket = "missing"
            await #expect { try await BlobStorageFactory.make(config: noBucket, environment: [:], logger: TestRegistry.logger) } throws: {
                "\($0)" == "storage.s3.bucket: bucket 'missing' does not exist"
            }
            // Unset credentials come from the standard AWS variables.
            var fromEnvironment = config
            fromEnvironment.storage.s3.accessKey = ""
            fromEnvironment.storage.s3.secretKey = ""
            _ = try await BlobStorageFactory.make(config: fromEnvironment, environment: ["AWS_ACCESS_KEY_ID": moto.accessKey, "AWS_SECRET_ACCESS_KEY": moto.secretKey],
                                                  logger: TestRegistry.logger)
            await #expect(throws: S3ConfigurationError.self) {
                try await BlobStorageFactory.make(config: fromEnvironment, environment: [:], logger: TestRegistry.logger)
            }
        }
    }
}
