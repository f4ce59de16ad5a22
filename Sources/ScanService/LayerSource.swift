// Where the scanner gets a layer's contents: the blob storage driver's bytes streamed through
// libarchive on a thread of NIO's pool (libarchive blocks; the cooperative pool must not).
// A driver with local files (the filesystem) hands over an open descriptor that libarchive
// reads directly; others (S3) are streamed chunk by chunk into a temporary file first, so a
// layer is never held in memory either way.

import Foundation
import NIOCore
import NIOPosix
import Scanner
import SlipwayCore

/// Reads one layer blob into its indexed contents. Throws `LayerReadError` for a layer that
/// cannot be indexed (the image fails with that reason) and anything else for a failure worth
/// retrying (storage unavailable).
public protocol LayerSource: Sendable {
    func contents(of layer: Digest) async throws -> LayerContents
}

/// A layer the storage does not have (yet): retried, then the scan fails.
struct LayerMissing: Error, CustomStringConvertible {
    let digest: Digest
    var description: String { "layer \(digest) is not in blob storage" }
}

public struct BlobLayerSource: LayerSource {
    let storage: any BlobStorageDriver
    let limits: LayerLimits
    let threadPool: NIOThreadPool

    public init(storage: any BlobStorageDriver, limits: LayerLimits = LayerLimits(), threadPool: NIOThreadPool = .singleton) {
        self.storage = storage
        self.limits = limits
        self.threadPool = threadPool
    }

    public func contents(of layer: Digest) async throws -> LayerContents {
        guard let size = try await storage.stat(layer) else { throw LayerMissing(digest: layer) }
        let limits = self.limits
        if let slice = try await storage.openSlice(layer, range: 0..<size) {
            defer { slice.close() }
            // `/dev/fd/N` opens the blob's file afresh (its own offset), even if the collector
            // unlinked the path meanwhile.
            let descriptor = try slice.handle.withUnsafeFileDescriptor { $0 }
            return try await threadPool.runIfActive { try LayerReader.read(path: "/dev/fd/\(descriptor)", limits: limits) }
        }
        let spool = NSTemporaryDirectory() + "slipway-layer-" + UUID().uuidString
        guard FileManager.default.createFile(atPath: spool, contents: nil), let file = FileHandle(forWritingAtPath: spool) else {
            throw LayerReadError("cannot create a temporary file to read the layer from")
        }
        defer { try? FileManager.default.removeItem(atPath: spool) }
        do {
            try await storage.read(layer, range: 0..<size) { chunk in
                let bytes = Data(buffer: chunk)
                try await threadPool.runIfActive { try file.write(contentsOf: bytes) }
            }
            try file.close()
        } catch {
            try? file.close()
            throw error
        }
        return try await threadPool.runIfActive { try LayerReader.read(path: spool, limits: limits) }
    }
}
