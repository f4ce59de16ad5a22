import Foundation
import SlipwayCore

/// Collector pass: aborts multipart uploads under the storage prefix that outlived the upload
/// idle time. They are what a replica that died mid-PATCH (or a publication whose abort failed)
/// left behind: invisible, but billed by S3 until aborted.
public struct StaleMultipartUploadPass: CollectorPass {
    public let storage: S3BlobStorage

    public init(storage: S3BlobStorage) {
        self.storage = storage
    }

    public var stage: CollectorStage { .byteDeletion }

    public func run(now: Int64, settings: CollectorSettings) async throws -> CollectorReport {
        let cutoff = Date(timeIntervalSince1970: Double(now) / 1000 - Double(settings.uploadIdleSeconds))
        let aborted = try await storage.abortStaleMultipartUploads(olderThan: cutoff)
        return CollectorReport(["staleMultipartUploadsAborted": aborted])
    }
}
