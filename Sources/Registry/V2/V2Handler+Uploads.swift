import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SlipwayCore

/// Blob uploads: monolithic (`POST ?digest=`), `POST`+`PUT`, chunked `PATCH`, status, cancel and
/// cross-repository mounts. Bytes are hashed and written as they arrive, never buffered whole;
/// a blob becomes visible only after its digest is verified.
extension V2Handler {
    func startUpload(_ request: Request, name: String, repo: Repository, caller: V2Caller, origin: RequestOrigin) async throws -> Response {
        let params = request.uri.queryParameters
        if let mount = params["mount"], let from = params["from"] {
            if let mounted = try await mountBlob(digestText: String(mount), fromName: String(from), name: name, into: repo, caller: caller, origin: origin) {
                return mounted
            }
            // Not mountable (unknown blob, no access): fall back to a normal upload, as the spec says.
        }
        let id = UUID().uuidString.lowercased()
        try await services.store.createUpload(id: id, repositoryID: repo.id)
        try await services.storage.createUpload(id)
        if let digestText = params["digest"] {
            // Monolithic upload in one request.
            do {
                let digest = try Digest(validating: String(digestText))
                let (size, digester) = try await appendBody(request, uploadID: id, offset: 0, digester: StreamingDigester())
                try await completeUpload(id: id, repo: repo, expected: digest, size: size, digester: digester)
                return blobCreated(name: name, digest: digest, origin: origin)
            } catch {
                await discardUpload(id)
                throw error
            }
        }
        return Response(status: .accepted, headers: uploadHeaders(name: name, id: id, origin: origin, size: 0))
    }

    private func mountBlob(digestText: String, fromName: String, name: String, into repo: Repository, caller: V2Caller,
                           origin: RequestOrigin) async throws -> Response? {
        guard let digest = try? Digest(parsing: digestText), let fromPath = try? RepositoryPath(parsing: fromName),
              let source = try await services.accounts.repository(fromPath), source.state != .markedForDeletion else { return nil }
        let tokenAllows = caller.granted(name: fromName, path: fromPath).contains(.pull)
        guard tokenAllows || (source.isPublic && services.config.registry.anonymousAccess) else { return nil }
        guard let size = try await services.store.blobSize(repositoryID: source.id, digest: digest) else { return nil }
        // A link whose bytes were never published (its replica died between link and publish)
        // is not mountable: the client uploads the blob instead.
        guard try await services.storage.stat(digest) != nil else { return nil }
        try await services.store.linkBlob(repositoryID: repo.id, digest: digest, size: size)
        return blobCreated(name: name, digest: digest, origin: origin)
    }

    func uploadStatus(name: String, repo: Repository, id: String, origin: RequestOrigin) async throws -> Response {
        let record = try await uploadRecord(id, repo: repo)
        return Response(status: .noContent, headers: uploadHeaders(name: name, id: id, origin: origin, size: record.size))
    }

    func patchUpload(_ request: Request, name: String, repo: Repository, id: String, origin: RequestOrigin) async throws -> Response {
        let record = try await uploadRecord(id, repo: repo)
        var expectedLength: Int64?
        if let contentRange = request.headers[.contentRange] {
            guard let (start, end) = Self.parseContentRange(contentRange), end >= start else {
                throw RegistryError(.blobUploadInvalid, "malformed Content-Range '\(contentRange.prefix(64))': expected <start>-<end>", status: .badRequest)
            }
            guard start == record.size else {
                throw RegistryError(.rangeInvalid, "chunk starts at \(start) but the upload has \(record.size) bytes; resume at \(record.size)",
                                    headers: [.range: Self.rangeHeader(record.size), .dockerUploadUUID: id])
            }
            expectedLength = end - start + 1
        }
        let size = try await writeChunk(request, id: id, record: record, expectedLength: expectedLength)
        return Response(status: .accepted, headers: uploadHeaders(name: name, id: id, origin: origin, size: size))
    }

    func finishUpload(_ request: Request, name: String, repo: Repository, id: String, origin: RequestOrigin) async throws -> Response {
        let record = try await uploadRecord(id, repo: repo)
        guard let digestText = request.uri.queryParameters["digest"] else {
            throw RegistryError(.blobUploadInvalid, "the digest query parameter is required to complete an upload", status: .badRequest)
        }
        let digest = try Digest(validating: String(digestText))
        var expectedLength: Int64?
        if let contentRange = request.headers[.contentRange], let (start, end) = Self.parseContentRange(contentRange) {
            guard start == record.size else {
                throw RegistryError(.rangeInvalid, "chunk starts at \(start) but the upload has \(record.size) bytes",
                                    headers: [.range: Self.rangeHeader(record.size), .dockerUploadUUID: id])
            }
            expectedLength = end - start + 1
        }
        // The claim is kept through publication: nobody may add bytes between the write the
        // digest was checked against and the blob's commit.
        let announcedLength = expectedLength
        try await withUploadClaim(id, size: record.size) { writer, generation in
            let digester = services.uploads.digester(id, offset: record.size, generation: generation)
            let (size, finalDigester) = try await appendBody(request, uploadID: id, offset: record.size, digester: digester, expectedLength: announcedLength)
            guard try await services.store.recordUploadWrite(id: id, writer: writer, size: size, keepClaim: true) else {
                throw Self.claimLost(id)
            }
            try await completeUpload(id: id, repo: repo, expected: digest, size: size, digester: finalDigester)
        }
        return blobCreated(name: name, digest: digest, origin: origin)
    }

    func cancelUpload(repo: Repository, id: String) async throws -> Response {
        _ = try await uploadRecord(id, repo: repo)
        await discardUpload(id)
        return Response(status: .noContent, headers: [.contentLength: "0"])
    }

    // MARK: Helpers

    private func uploadRecord(_ id: String, repo: Repository) async throws -> UploadRecord {
        guard let record = try await services.store.upload(id: id), record.repositoryID == repo.id else {
            throw RegistryError(.blobUploadUnknown, "upload \(id.prefix(64)) is unknown, finished or cancelled")
        }
        return record
    }

    /// Appends the request body under the upload's claim and records the new size.
    private func writeChunk(_ request: Request, id: String, record: UploadRecord, expectedLength: Int64?) async throws -> Int64 {
        try await withUploadClaim(id, size: record.size) { writer, generation in
            let digester = services.uploads.digester(id, offset: record.size, generation: generation)
            let (size, newDigester) = try await appendBody(request, uploadID: id, offset: record.size, digester: digester, expectedLength: expectedLength)
            guard try await services.store.recordUploadWrite(id: id, writer: writer, size: size, keepClaim: false) else {
                throw Self.claimLost(id)
            }
            services.uploads.record(id, digester: newDigester, offset: size, generation: writer)
            return size
        }
    }

    /// Runs `body` holding the upload's row claim (see `MetadataStore.claimUpload`), renewed
    /// while it runs; `body` gets the writer id and the generation of the bytes it resumes.
    /// Another request writing to the same upload, through this replica or another, is
    /// refused with 416 as distribution does. If a renewal finds the claim gone, `body` is
    /// cancelled, so its bytes never count.
    private func withUploadClaim<T: Sendable>(_ id: String, size: Int64,
                                              _ body: @escaping @Sendable (_ writer: String, _ generation: String) async throws -> T) async throws -> T {
        let writer = UUID().uuidString.lowercased()
        guard let generation = try await services.store.claimUpload(id: id, size: size, writer: writer) else {
            throw RegistryError(.blobUploadInvalid, "another request is currently writing to this upload, or it moved on; check its status and resume",
                                status: .rangeNotSatisfiable, headers: [.dockerUploadUUID: id])
        }
        let store = services.store
        do {
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { try await body(writer, generation) }
                group.addTask {
                    while true {
                        try await Task.sleep(for: .milliseconds(MetadataStore.uploadClaimMillis / 3))
                        guard try await store.renewUploadClaim(id: id, writer: writer) else { throw Self.claimLost(id) }
                    }
                }
                defer { group.cancelAll() }
                while let next = try await group.next() {
                    if let result = next { return result }
                }
                throw CancellationError()
            }
        } catch {
            try? await store.releaseUploadClaim(id: id, writer: writer)
            throw error
        }
    }

    static func claimLost(_ id: String) -> RegistryError {
        RegistryError(.blobUploadInvalid, "this request lost its claim on the upload (it ran past the claim's time); nothing it sent was kept",
                      status: .rangeNotSatisfiable, headers: [.dockerUploadUUID: id])
    }

    /// Streams the request body into the upload at `offset`, hashing as it goes. On any failure
    /// (client gone, size cap, length mismatch) the upload is left exactly as it was.
    func appendBody(_ request: Request, uploadID: String, offset: Int64, digester: StreamingDigester?,
                    expectedLength: Int64? = nil) async throws -> (Int64, StreamingDigester?) {
        let writer = try await services.storage.uploadWriter(uploadID, at: offset)
        var digester = digester
        var received: Int64 = 0
        let limit = services.config.registry.maxBlobBytes
        do {
            var iterator = request.body.makeAsyncIterator()
            while true {
                let next: ByteBuffer?
                do {
                    next = try await iterator.next()
                } catch {
                    // The client went away or broke the framing: their problem, not a server fault.
                    throw RegistryError(.blobUploadInvalid, "the request body ended before it was complete; nothing was kept", status: .badRequest)
                }
                guard let buffer = next else { break }
                received += Int64(buffer.readableBytes)
                if offset + received > limit {
                    throw RegistryError(.sizeInvalid, "blob exceeds the maximum size of \(limit) bytes", status: .contentTooLarge)
                }
                if var d = digester {
                    buffer.withUnsafeReadableBytes { d.update($0) }
                    digester = d
                }
                try await writer.write(buffer)
            }
            if let expectedLength, expectedLength != received {
                throw RegistryError(.blobUploadInvalid, "Content-Range announced \(expectedLength) bytes but \(received) arrived", status: .badRequest)
            }
            let size = try await writer.commit()
            services.metrics.bytesPushed.increment(by: received)
            return (size, digester)
        } catch {
            await writer.cancel()
            throw error
        }
    }

    /// Verifies the digest, publishes the blob and links it to the repository.
    private func completeUpload(id: String, repo: Repository, expected: Digest, size: Int64, digester: StreamingDigester?) async throws {
        let computed: Digest
        if expected.algorithm == .sha256, let digester, digester.byteCount == size, let d = digester.finalize(.sha256) {
            computed = d
        } else {
            computed = try await rehashUpload(id, algorithm: expected.algorithm)
        }
        guard computed == expected else {
            await discardUpload(id)
            throw RegistryError(.digestInvalid, "digest mismatch: the uploaded content has digest \(computed), not \(expected); the upload was discarded",
                                detail: ["expected": expected.description, "computed": computed.description])
        }
        // Link first, publish second: the link clears any tombstone of these bytes, and waits for
        // a collector pass that is deleting them right now, so what we publish afterwards stays.
        try await services.store.linkBlob(repositoryID: repo.id, digest: expected, size: size)
        do {
            try await services.storage.commitUpload(id, as: expected)
        } catch {
            // Take the link back only when no copy of the bytes exists: the link may predate this
            // upload and carry manifests already pushed (unlinking it would orphan them).
            if (try? await services.storage.stat(expected)) == nil {
                _ = try? await services.store.unlinkBlob(repositoryID: repo.id, digest: expected)
            }
            throw error
        }
        try await services.store.deleteUpload(id: id)
        services.uploads.forget(id)
        services.metrics.blobsCommitted.increment()
    }

    private func rehashUpload(_ id: String, algorithm: Digest.Algorithm) async throws -> Digest {
        var digester = StreamingDigester(includeSHA512: algorithm == .sha512)
        try await services.storage.readUpload(id) { chunk in
            chunk.withUnsafeReadableBytes { digester.update($0) }
        }
        return digester.finalize(algorithm)!
    }

    func discardUpload(_ id: String) async {
        services.uploads.forget(id)
        try? await services.storage.deleteUpload(id)
        try? await services.store.deleteUpload(id: id)
    }

    private func blobCreated(name: String, digest: Digest, origin: RequestOrigin) -> Response {
        Response(status: .created, headers: [
            .location: origin.location(name, "blobs/\(digest)"),
            .dockerContentDigest: digest.description,
            .contentLength: "0",
        ])
    }

    private func uploadHeaders(name: String, id: String, origin: RequestOrigin, size: Int64) -> HTTPFields {
        [
            .location: origin.location(name, "blobs/uploads/\(id)"),
            .dockerUploadUUID: id,
            .range: Self.rangeHeader(size),
            .contentLength: "0",
        ]
    }

    /// `Range: 0-<last byte>`; an empty upload reports `0-0`, as distribution does.
    static func rangeHeader(_ size: Int64) -> String {
        "0-\(max(0, size - 1))"
    }

    /// `Content-Range: <start>-<end>` (also accepts a `bytes ` prefix and `/total` suffix).
    static func parseContentRange(_ header: String) -> (Int64, Int64)? {
        var text = Substring(header.trimmingCharacters(in: .whitespaces))
        if text.hasPrefix("bytes ") { text = text.dropFirst(6) }
        if text.hasPrefix("bytes=") { text = text.dropFirst(6) }
        if let slash = text.firstIndex(of: "/") { text = text[..<slash] }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = Int64(parts[0]), let end = Int64(parts[1]), start >= 0 else { return nil }
        return (start, end)
    }
}
