import Foundation
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// The contract every `BlobStorageDriver` must meet, run against each driver
/// (`TestStorageKind`: the filesystem, and S3 on a real moto_server), as distribution's
/// driver test suite is. A new driver adds a case there and inherits every assertion.
@Suite("Blob storage driver conformance")
struct BlobStorageConformanceTests {

    static func read(_ driver: any BlobStorageDriver, _ digest: Digest, _ range: Range<Int64>) async throws -> [UInt8] {
        var out: [UInt8] = []
        try await driver.read(digest, range: range) { out += Array(buffer: $0) }
        return out
    }

    /// A client that hangs up mid-PATCH cancels the request's task, and the writer is then
    /// cancelled (or dropped) inside that cancelled task: the upload must go back to where the
    /// writer started and the descriptor must be closed (an open handle released is a crash).
    @Test(arguments: TestStorageKind.available)
    func writerCancelledOrDroppedInsideACancelledTask(_ kind: TestStorageKind) async throws {
        try await kind.withDriver { driver in
            let name = kind.rawValue
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

    @Test(arguments: TestStorageKind.available)
    func writerCommitCancelAndPublish(_ kind: TestStorageKind) async throws {
        try await kind.withDriver { driver in
            let name = kind.rawValue
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
    @Test(arguments: TestStorageKind.available)
    func concurrentPublicationOfOneDigest(_ kind: TestStorageKind) async throws {
        try await kind.withDriver { driver in
            let name = kind.rawValue
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

    @Test(arguments: TestStorageKind.available)
    func uploadIdsCannotEscapeTheUploadArea(_ kind: TestStorageKind) async throws {
        try await kind.withDriver { driver in
            for bad in ["../x", "a/b", "", "UPPER", "x y"] {
                await #expect(throws: (any Error).self, "\(bad)") { try await driver.createUpload(bad) }
            }
        }
    }

    @Test(arguments: TestStorageKind.available)
    func largeStreamedUploadRehashes(_ kind: TestStorageKind) async throws {
        try await kind.withDriver { driver in
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

    /// Deterministic bytes for `range` of a test blob (so expected content needs no storage).
    static func pattern(_ range: Range<Int>, seed: Int = 7) -> [UInt8] {
        range.map { UInt8(truncatingIfNeeded: ($0 &* 31) ^ ($0 >> 9) ^ seed) }
    }

    static func write(_ driver: any BlobStorageDriver, _ id: String, at offset: Int64, _ bytes: [UInt8], pieces: Int = 64 * 1024) async throws -> Int64 {
        let writer = try await driver.uploadWriter(id, at: offset)
        var start = 0
        while start < bytes.count {
            let end = min(start + pieces, bytes.count)
            try await writer.write(ByteBuffer(bytes: bytes[start..<end]))
            start = end
        }
        return try await writer.commit()
    }

    static func readUpload(_ driver: any BlobStorageDriver, _ id: String) async throws -> [UInt8] {
        var out: [UInt8] = []
        try await driver.readUpload(id) { out += Array(buffer: $0) }
        return out
    }

    /// One writer streams a blob larger than several parts (S3: a multipart chunk); it
    /// publishes and reads back whole and across part boundaries.
    @Test(arguments: TestStorageKind.available)
    func largeMultiPartBlob(_ kind: TestStorageKind) async throws {
        try await kind.withDriver { driver in
            let bytes = Self.pattern(0..<(12 * 1024 * 1024 + 12345))
            let id = UUID().uuidString.lowercased()
            try await driver.createUpload(id)
            #expect(try await Self.write(driver, id, at: 0, bytes, pieces: 1 << 20) == Int64(bytes.count))
            #expect(try await driver.uploadSize(id) == Int64(bytes.count))
            let digest = Digest.sha256(of: bytes)
            try await driver.commitUpload(id, as: digest)
            #expect(try await driver.stat(digest) == Int64(bytes.count))
            #expect(try await Self.read(driver, digest, 0..<Int64(bytes.count)) == bytes, "\(kind)")
            let across: Range<Int64> = (5 * 1024 * 1024 - 10)..<(5 * 1024 * 1024 + 10)
            #expect(try await Self.read(driver, digest, across) == Array(bytes[Int(across.lowerBound)..<Int(across.upperBound)]))
        }
    }

    /// A chunked upload of many PATCHes, small and large mixed (S3: chunks under 5 MiB are
    /// merged into parts, large ones copied server-side), publishes the exact bytes in order.
    @Test(arguments: TestStorageKind.available)
    func chunkedUploadWithSmallAndLargeChunks(_ kind: TestStorageKind) async throws {
        try await kind.withDriver { driver in
            let sizes = [100 * 1024, 6 * 1024 * 1024, 3, 200 * 1024, 5 * 1024 * 1024 + 512, 1024 * 1024, 10]
            let total = sizes.reduce(0, +)
            let bytes = Self.pattern(0..<total, seed: 3)
            let id = UUID().uuidString.lowercased()
            try await driver.createUpload(id)
            var offset = 0
            for size in sizes {
                let end = try await Self.write(driver, id, at: Int64(offset), Array(bytes[offset..<(offset + size)]))
                offset += size
                #expect(end == Int64(offset))
            }
            #expect(try await driver.uploadSize(id) == Int64(total))
            #expect(try await Self.readUpload(driver, id) == bytes, "re-reading the upload (\(kind))")
            let digest = Digest.sha256(of: bytes)
            try await driver.commitUpload(id, as: digest)
            #expect(try await Self.read(driver, digest, 0..<Int64(total)) == bytes, "\(kind)")
            #expect(try await driver.uploadSize(id) == nil)
        }
    }

    /// A writer cancelled after it streamed more than a part leaves the upload as it was, and
    /// the upload continues from there.
    @Test(arguments: TestStorageKind.available)
    func cancelMidStreamLeavesTheUploadAsItWas(_ kind: TestStorageKind) async throws {
        try await kind.withDriver { driver in
            let id = UUID().uuidString.lowercased()
            try await driver.createUpload(id)
            let first = Self.pattern(0..<1000)
            _ = try await Self.write(driver, id, at: 0, first)
            let writer = try await driver.uploadWriter(id, at: 1000)
            for _ in 0..<7 { try await writer.write(ByteBuffer(bytes: Self.pattern(0..<(1 << 20), seed: 9))) }
            await writer.cancel()
            #expect(try await driver.uploadSize(id) == 1000, "\(kind)")
            #expect(try await Self.readUpload(driver, id) == first)
            let rest = Self.pattern(0..<500, seed: 1)
            #expect(try await Self.write(driver, id, at: 1000, rest) == 1500)
            #expect(try await Self.readUpload(driver, id) == first + rest)
            try await driver.deleteUpload(id)
            #expect(try await driver.uploadSize(id) == nil)
        }
    }

    @Test(arguments: TestStorageKind.available)
    func rangeReads(_ kind: TestStorageKind) async throws {
        try await kind.withDriver { driver in
            let bytes = Self.pattern(0..<100_000)
            let id = UUID().uuidString.lowercased()
            try await driver.createUpload(id)
            _ = try await Self.write(driver, id, at: 0, bytes)
            let digest = Digest.sha256(of: bytes)
            try await driver.commitUpload(id, as: digest)
            for range in [0..<1, 99_999..<100_000, 12_345..<67_890, 0..<100_000] as [Range<Int64>] {
                #expect(try await Self.read(driver, digest, range) == Array(bytes[Int(range.lowerBound)..<Int(range.upperBound)]), "\(kind) \(range)")
            }
        }
    }

    @Test(arguments: TestStorageKind.available)
    func missingBlobsAndUploads(_ kind: TestStorageKind) async throws {
        try await kind.withDriver { driver in
            let digest = Digest.sha256(of: Array("never stored".utf8))
            #expect(try await driver.stat(digest) == nil)
            await #expect(throws: (any Error).self, "\(kind)") { try await Self.read(driver, digest, 0..<4) }
            try await driver.delete(digest)
            let id = UUID().uuidString.lowercased()
            #expect(try await driver.uploadSize(id) == nil)
            await #expect(throws: (any Error).self, "\(kind)") { try await Self.readUpload(driver, id) }
        }
    }
}
