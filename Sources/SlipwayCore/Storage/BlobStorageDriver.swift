import Foundation
import NIOCore

/// The seam between Slipway and where blob bytes live. Blobs are content-addressed and
/// immutable once committed; uploads are private scratch areas identified by an upload id.
/// A blob is never visible under its digest before the registry has verified that digest.
/// Implementations: `FilesystemBlobStorage` and `S3BlobStorage` (module ObjectStorage).
public protocol BlobStorageDriver: Sendable {
    /// Size of a committed blob, or nil when it is not stored.
    func stat(_ digest: Digest) async throws -> Int64?
    /// Streams `range` of a committed blob to `sink` in chunks, never the whole blob at once.
    func read(_ digest: Digest, range: Range<Int64>, into sink: (ByteBuffer) async throws -> Void) async throws
    /// `range` of a committed blob as an open file the HTTP server can hand to `sendfile(2)`,
    /// or nil when the driver has no local file (the caller then streams with `read`). The
    /// caller owns the result and must close it.
    func openSlice(_ digest: Digest, range: Range<Int64>) async throws -> BlobFileSlice?
    /// Removes a committed blob (garbage collection). Missing blobs are not an error.
    func delete(_ digest: Digest) async throws

    /// Creates an empty upload area.
    func createUpload(_ id: String) async throws
    /// Bytes received so far, or nil if the upload does not exist.
    func uploadSize(_ id: String) async throws -> Int64?
    /// A writer appending at `offset`. Its bytes count only once `commit()` succeeds; `cancel()`
    /// (or any failure) leaves the upload exactly as it was before the writer opened.
    func uploadWriter(_ id: String, at offset: Int64) async throws -> any BlobUploadWriter
    /// Streams the upload's bytes (used to re-hash an upload whose hash state was lost).
    func readUpload(_ id: String, into sink: (ByteBuffer) async throws -> Void) async throws
    /// Atomically publishes the upload's bytes under `digest` and removes the upload. If the blob
    /// already exists the upload is simply discarded (identical content is stored once).
    func commitUpload(_ id: String, as digest: Digest) async throws
    /// Discards an upload. Missing uploads are not an error.
    func deleteUpload(_ id: String) async throws
    /// A short-lived URL the client may download the whole blob from instead (default: nil,
    /// the registry streams the bytes itself).
    func downloadRedirect(_ digest: Digest) async throws -> URL?
    /// Whether the store answers right now (`/health/instance`): one cheap request, no retries.
    func isHealthy() async -> Bool
}

/// Appends one request's worth of bytes to an upload.
public protocol BlobUploadWriter: AnyObject, Sendable {
    func write(_ buffer: ByteBuffer) async throws
    /// Flushes the bytes and returns the upload's new total size.
    func commit() async throws -> Int64
    /// Drops everything this writer wrote.
    func cancel() async
}

/// Failures of a storage driver that callers answer in their wire format.
public enum BlobStorageError: Error, Sendable, Equatable {
    /// The upload id is not one the driver could have made.
    case unknownUpload
    /// The storage backend cannot be reached or keeps failing (retries exhausted). The request
    /// may be retried later; nothing half-written became visible. The text is for the log.
    case unavailable(String)
}

extension BlobStorageDriver {
    /// Drivers that can hand out a short-lived URL the client downloads from directly (S3
    /// presigned GET) implement this; the others stream.
    public func downloadRedirect(_ digest: Digest) async throws -> URL? { nil }

    /// Drivers without local files (S3) stream through `read`.
    public func openSlice(_ digest: Digest, range: Range<Int64>) async throws -> BlobFileSlice? { nil }
}
