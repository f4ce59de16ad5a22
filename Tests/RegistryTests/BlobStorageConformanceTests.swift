import Foundation
import NIOCore
import Registry
import Testing

/// The contract every `BlobStorageDriver` must meet. New drivers (S3) add a constructor to
/// `drivers` and inherit every assertion.
@Suite("Blob storage driver conformance")
struct BlobStorageConformanceTests {
    static func drivers() async throws -> [(String, any BlobStorageDriver)] {
        let dir = NSTemporaryDirectory() + "slipway-storage-" + UUID().uuidString.prefix(8)
        return [("filesystem", try await FilesystemBlobStorage(root: dir))]
    }

    static func read(_ driver: any BlobStorageDriver, _ digest: Digest, _ range: Range<Int64>) async throws -> [UInt8] {
        var out: [UInt8] = []
        try await driver.read(digest, range: range) { out += Array(buffer: $0) }
        return out
    }

    /// A client that hangs up mid-PATCH cancels the request's task, and the writer is then
    /// cancelled (or dropped) inside that cancelled task: the upload must go back to where the
    /// writer started and the descriptor must be closed (an open handle released is a crash).
    @Test func writerCancelledOrDroppedInsideACancelledTask() async throws {
        for (name, driver) in try await Self.drivers() {
            let id = UUID().uuidString.lowercased()
            try await driver.createUpload(id)
            let first = try await driver.uploadWriter(id, at: 0)
            try await first.write(ByteBuffer(string: "kept"))
            #expect(try await first.commit() == 4)
            let task = Task {
                let cancelled = try await driver.uploadWriter(id, at: 4)
                try await cancelled.write(ByteBuffer(string: String(repeating: "x", count: 3 << 20)))
                withUnsafeCurrentTask { $0?.cancel() }
                await cancelled.cancel()
                let dropped = try await driver.uploadWriter(id, at: 4)
                try await dropped.write(ByteBuffer(string: String(repeating: "y", count: 3 << 20)))
                // `dropped` goes out of scope here without commit or cancel.
            }
            _ = await task.result
            #expect(try await driver.uploadSize(id) == 4, "\(name)")
            let again = try await driver.uploadWriter(id, at: 4)
            try await again.write(ByteBuffer(string: "!"))
            #expect(try await again.commit() == 5, "\(name)")
        }
    }

    @Test func writerCommitCancelAndPublish() async throws {
        for (name, driver) in try await Self.drivers() {
            let id = UUID().uuidString.lowercased()
            try await driver.createUpload(id)
            #expect(try await driver.uploadSize(id) == 0, "\(name)")

            let w1 = try await driver.uploadWriter(id, at: 0)
            try await w1.write(ByteBuffer(string: "hello "))
            #expect(try await w1.commit() == 6)

            // A cancelled writer leaves the upload exactly as it was.
            let w2 = try await driver.uploadWriter(id, at: 6)
            try await w2.write(ByteBuffer(string: "garbage that must vanish"))
            await w2.cancel()
            #expect(try await driver.uploadSize(id) == 6, "\(name)")

            let w3 = try await driver.uploadWriter(id, at: 6)
            try await w3.write(ByteBuffer(string: "world"))
            #expect(try await w3.commit() == 11)

            let digest = Digest.sha256(of: Array("hello world".utf8))
            #expect(try await driver.stat(digest) == nil, "blob must not be visible before commit (\(name))")
            try await driver.commitUpload(id, as: digest)
            #expect(try await driver.stat(digest) == 11)
            #expect(try await driver.uploadSize(id) == nil)
            #expect(try await Self.read(driver, digest, 0..<11) == Array("hello world".utf8))
            #expect(try await Self.read(driver, digest, 6..<11) == Array("world".utf8))

            // Committing identical content again keeps one copy and discards the upload.
            let again = UUID().uuidString.lowercased()
            try await driver.createUpload(again)
            let w4 = try await driver.uploadWriter(again, at: 0)
            try await w4.write(ByteBuffer(string: "hello world"))
            _ = try await w4.commit()
            try await driver.commitUpload(again, as: digest)
            #expect(try await driver.uploadSize(again) == nil)
            #expect(try await Self.read(driver, digest, 0..<11) == Array("hello world".utf8))

            try await driver.delete(digest)
            #expect(try await driver.stat(digest) == nil)
        }
    }

    /// Many pushes of the same blob publish at once (every layer of a popular base image does):
    /// each publication succeeds and readers never see the blob missing in between.
    @Test func concurrentPublicationOfOneDigest() async throws {
        for (name, driver) in try await Self.drivers() {
            let bytes = Array("popular base layer".utf8)
            let digest = Digest.sha256(of: bytes)
            let first = UUID().uuidString.lowercased()
            try await driver.createUpload(first)
            let w = try await driver.uploadWriter(first, at: 0)
            try await w.write(ByteBuffer(bytes: bytes))
            _ = try await w.commit()
            try await driver.commitUpload(first, as: digest)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        let id = UUID().uuidString.lowercased()
                        try await driver.createUpload(id)
                        let w = try await driver.uploadWriter(id, at: 0)
                        try await w.write(ByteBuffer(bytes: bytes))
                        _ = try await w.commit()
                        try await driver.commitUpload(id, as: digest)
                    }
                    group.addTask {
                        for _ in 0..<20 {
                            let size = try await driver.stat(digest)
                            #expect(size == Int64(bytes.count), "blob vanished during a republish (\(name))")
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await Self.read(driver, digest, 0..<Int64(bytes.count)) == bytes)
        }
    }

    @Test func uploadIdsCannotEscapeTheUploadArea() async throws {
        for (_, driver) in try await Self.drivers() {
            for bad in ["../x", "a/b", "", "UPPER", "x y"] {
                await #expect(throws: (any Error).self, "\(bad)") { try await driver.createUpload(bad) }
            }
        }
    }

    @Test func largeStreamedUploadRehashes() async throws {
        for (_, driver) in try await Self.drivers() {
            let id = UUID().uuidString.lowercased()
            try await driver.createUpload(id)
            let writer = try await driver.uploadWriter(id, at: 0)
            var expected = StreamingDigester()
            let chunk = ByteBuffer(bytes: (0..<65_536).map { UInt8($0 & 0xff) })
            for _ in 0..<64 {  // 4 MiB in 64 KiB pieces
                try await writer.write(chunk)
                chunk.withUnsafeReadableBytes { expected.update($0) }
            }
            #expect(try await writer.commit() == 4 * 1024 * 1024)
            var actual = StreamingDigester()
            try await driver.readUpload(id) { $0.withUnsafeReadableBytes { actual.update($0) } }
            #expect(actual.finalize(.sha256) == expected.finalize(.sha256))
            try await driver.deleteUpload(id)
        }
    }
}
