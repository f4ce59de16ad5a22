import Foundation
import HTTPTypes
import NIOCore
import NIOPosix
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Blob downloads through a real server on a loopback port, where blobs in local files go out
/// with `sendfile(2)` (`FileRegionResponseHandler`). Serialized: the zero-copy byte counter is
/// process-wide, and no other suite serves live.
@Suite("Zero-copy blob downloads", .serialized)
struct ZeroCopyBlobTests {
    static let repo = "admin/zc"

    static func token(_ c: RegistryClient) async throws -> String {
        try #require(try await c.token(.init(TestRegistry.adminName), scopes: ["repository:\(repo):pull,push"]))
    }

    /// Full, ranged, suffix and HEAD requests on one keep-alive connection give exactly the
    /// stored bytes and headers; the internal header never reaches the client; on the
    /// filesystem driver every GET byte went out zero-copy, on S3 none (it streams).
    @Test(arguments: TestBackend.available, TestStorageKind.available)
    func fullAndRangedDownloadsAreExact(backend: TestBackend, storage: TestStorageKind) async throws {
        try await TestRegistry.with(backend, storage: storage, testing: .live) { _, c in
            let token = try await Self.token(c)
            let bytes = Self.pattern(3 << 20 + 17)
            let digest = try await c.pushBlob(Self.repo, bytes, token: token)
            let path = "/v2/\(Self.repo)/blobs/\(digest)"
            let before = try await Self.zeroCopyBytes(c)

            let full = try await c.send(.get, path, token: token)
            #expect(full.status == .ok)
            #expect(full.headers[.contentLength] == String(bytes.count))
            #expect(full.headers[HTTPField.Name("Docker-Content-Digest")!] == digest.description)
            #expect(full.headers[HTTPField.Name("x-slipway-file-region")!] == nil)
            #expect(Array(buffer: full.body) == bytes)

            let ranged = try await c.send(.get, path, token: token, headers: [HTTPField.Name("Range")!: "bytes=1048570-1048585"])
            #expect(ranged.status == .partialContent)
            #expect(ranged.headers[HTTPField.Name("Content-Range")!] == "bytes 1048570-1048585/\(bytes.count)")
            #expect(ranged.headers[.contentLength] == "16")
            #expect(ranged.headers[HTTPField.Name("x-slipway-file-region")!] == nil)
            #expect(Array(buffer: ranged.body) == Array(bytes[1_048_570...1_048_585]))

            let suffix = try await c.send(.get, path, token: token, headers: [HTTPField.Name("Range")!: "bytes=-5"])
            #expect(suffix.status == .partialContent)
            #expect(Array(buffer: suffix.body) == Array(bytes.suffix(5)))

            let head = try await c.send(.head, path, token: token)
            #expect(head.status == .ok)
            #expect(head.headers[.contentLength] == String(bytes.count))
            #expect(head.body.readableBytes == 0)

            // The connection still works after the file regions: a small JSON response.
            let base = try await c.send(.get, "/v2/", token: token)
            #expect(base.status == .ok)

            let sent = try await Self.zeroCopyBytes(c) - before
            #expect(sent == (storage == .filesystem ? Int64(bytes.count + 16 + 5) : 0))
        }
    }

    /// A client that hangs up in the middle of a body leaves no descriptor on the blob open, and
    /// the raw response head carries no internal header.
    @Test(arguments: TestBackend.available)
    func aClientHangingUpMidBodyLeaksNoDescriptor(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, testing: .live) { registry, c in
            let token = try await Self.token(c)
            // Larger than loopback socket buffers, so the server is still sending at hang-up.
            let bytes = Self.pattern(24 << 20)
            let digest = try await c.pushBlob(Self.repo, bytes, token: token)
            let blobFile = URL(fileURLWithPath: registry.services.config.resolvedStoragePath)
                .appendingPathComponent("blobs/sha256/\(digest.hex.prefix(2))/\(digest.hex)").resolvingSymlinksInPath().path
            #expect(FileManager.default.fileExists(atPath: blobFile), "the test looks for descriptors on \(blobFile)")
            let port = try #require(c.client.port)

            let received = try await RawHTTPExchange.get(port: port, path: "/v2/\(Self.repo)/blobs/\(digest)", token: token, stopAfter: 256 << 10)
            let head = try #require(received.head)
            #expect(head.hasPrefix("HTTP/1.1 200"))
            #expect(head.lowercased().contains("content-length: \(bytes.count)\r\n"))
            #expect(!head.lowercased().contains("x-slipway-file-region"))
            #expect(received.body == Array(bytes.prefix(received.body.count)))
            #expect(received.body.count < bytes.count)

            // The server notices the hang-up when its next write fails; wait for that, bounded.
            let deadline = ContinuousClock.now + .seconds(60)
            while Self.descriptors(on: blobFile) > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(Self.descriptors(on: blobFile) == 0)

            // And the registry still serves the blob whole on a new connection.
            let again = try await RawHTTPExchange.get(port: port, path: "/v2/\(Self.repo)/blobs/\(digest)", token: token, stopAfter: nil)
            #expect(again.body.count == bytes.count)
            #expect(again.body == bytes)
            #expect(Self.descriptors(on: blobFile) == 0)
        }
    }

    /// Bytes that differ at every offset of a window (a shifted range would not match).
    static func pattern(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) }
    }

    /// How many of this process's descriptors are open on `path`.
    static func descriptors(on path: String) -> Int {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == path }.count
    }

    static func zeroCopyBytes(_ c: RegistryClient) async throws -> Int64 {
        let metrics = String(buffer: try await c.send(.get, "/metrics").body)
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("slipway_registry_bytes_pulled_zero_copy_total ") }
        return line.flatMap { $0.split(separator: " ").last }.flatMap { Int64($0) } ?? 0
    }
}

/// One HTTP/1.1 GET on its own connection, read byte for byte as the server sent it: the test
/// client would hide a header it did not expect and cannot hang up in the middle of a body.
enum RawHTTPExchange {
    struct Received: Sendable {
        var head: String?
        var body: [UInt8] = []
    }

    /// Reads the head and the body (up to Content-Length), or closes the connection once
    /// `stopAfter` body bytes have arrived.
    static func get(port: Int, path: String, token: String, stopAfter: Int?) async throws -> Received {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "localhost", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            let request = "GET \(path) HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n"
            try await outbound.write(ByteBuffer(string: request))
            var received = Received()
            var pending: [UInt8] = []
            var expected: Int?
            for try await chunk in inbound {
                if received.head == nil {
                    pending += Array(buffer: chunk)
                    guard let end = pending.firstRange(of: Array("\r\n\r\n".utf8)) else { continue }
                    let head = String(decoding: pending[..<end.upperBound], as: UTF8.self)
                    received.head = head
                    received.body = Array(pending[end.upperBound...])
                    expected = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                        .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }
                } else {
                    received.body += Array(buffer: chunk)
                }
                if let stopAfter, received.body.count >= stopAfter { break }
                if let expected, received.body.count >= expected { break }
            }
            return received
        }
    }
}
