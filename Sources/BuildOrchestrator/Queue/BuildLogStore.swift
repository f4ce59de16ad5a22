import BuildProtocol
import Foundation
import NIOCore
import Registry
import SlipwayCore

/// Where a build's log lives: entries in the database while the build runs (served as they
/// arrive), then one compressed blob in blob storage once it has finished. Readers don't care
/// which: `entries` reads whichever holds the log.
struct BuildLogStore: Sendable {
    let store: BuildStore
    let storage: any BlobStorageDriver
    private var tombstones: BlobTombstones { BlobTombstones(database: store.database) }

    /// Moves a finished build's log to blob storage. The rows go in the same transaction that
    /// records the archive, so a reader sees one or the other, never neither.
    func archive(_ build: BuildRecord) async throws {
        let entries = try await store.buildLogs(buildID: build.id, start: 0)
        guard !entries.isEmpty else { return }
        let compressed = try await LogArchive.encode(entries)
        let digest = Digest.sha256(of: compressed)
                let uploadID = UUID().uuidString.lowercased()
        try await storage.createUpload(uploadID)
        do {
            let writer = try await storage.uploadWriter(uploadID, at: 0)
            try await writer.write(ByteBuffer(bytes: compressed))
            _ = try await writer.commit()
            // A deletion of identical bytes in progress finishes before these are published.
            try await tombstones.hold(digest.description)
            try await storage.commitUpload(uploadID, as: digest)
        } catch {
            try? await storage.deleteUpload(uploadID)
            throw error
        }
        try await store.recordBuildLogArchive(buildID: build.id, digest: digest.description)
    }

    /// Entries from `start` on, from the live rows or the archive.
    func entries(_ build: BuildRecord, start: Int) async throws -> [BuildLogEntry] {
        for _ in 0..<2 {
            if let digest = try await store.buildLogArchiveDigest(buildID: build.id) {
                let all = try await readArchive(digest)
                return start < all.count ? Array(all[start...]) : []
            }
            let live = try await store.buildLogs(buildID: build.id, start: start)
            // Empty although entries exist: archived between the two reads; look again.
            if !live.isEmpty || start >= build.logCount { return live }
        }
        return []
    }

    private func readArchive(_ digestText: String) async throws -> [BuildLogEntry] {
        let digest = try Digest(parsing: digestText)
        guard let size = try await storage.stat(digest) else {
            throw DomainError.internalFailure("the archived build log \(digestText) is missing from storage")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(size))
        try await storage.read(digest, range: 0..<size) { bytes += Array(buffer: $0) }
        return try await LogArchive.decode(bytes)
    }
}
