import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SlipwayCore

/// Blob reads (with `Range`) and blob deletion.
extension V2Handler {
    /// `connection` is the client's HTTP connection: a blob in a local file goes out through it
    /// with `sendfile(2)` (see `FileRegionResponseHandler`); without one the bytes are streamed.
    func getBlob(_ request: Request, repo: Repository, digest: Digest, connection: (any Channel)? = nil) async throws -> Response {
        guard let size = try await services.store.blobSize(repositoryID: repo.id, digest: digest),
              let stored = try await services.storage.stat(digest) else {
            throw RegistryError(.blobUnknown, "blob \(digest) is not in repository \(repo.path)", detail: ["digest": digest.description])
        }
        if stored != size {
            services.logger.error("blob size differs between metadata and storage", metadata: ["digest": "\(digest)"])
        }
        var headers: HTTPFields = [
            .dockerContentDigest: digest.description,
            .acceptRanges: "bytes",
            .contentType: "application/octet-stream",
            .eTag: "\"\(digest)\"",
            .cacheControl: "max-age=31536000",
        ]
        var range: Range<Int64> = 0..<stored
        var status = HTTPResponse.Status.ok
        if let rangeHeader = request.headers[.range] {
            guard let r = Self.parseByteRange(rangeHeader, size: stored) else {
                throw RegistryError(.rangeInvalid, "unsatisfiable range '\(rangeHeader.prefix(64))' for a blob of \(stored) bytes",
                                    headers: [.contentRange: "bytes */\(stored)"])
            }
            range = r
            status = .partialContent
            headers[.contentRange] = "bytes \(r.lowerBound)-\(r.upperBound - 1)/\(stored)"
        }
        let length = range.upperBound - range.lowerBound
        let bodyRange = range
        headers[.contentLength] = String(length)
        if request.method == .head {
            return Response(status: status, headers: headers, body: .init())
        }
        let storage = services.storage
        // A driver that can serve the bytes itself (S3 presigned GET) gets the download: the
        // client follows the redirect with its Range header, if any, and the bytes bypass us.
        if let url = try await storage.downloadRedirect(digest) {
            return Response(status: .temporaryRedirect, headers: [
                .location: url.absoluteString, .dockerContentDigest: digest.description, .cacheControl: "no-store",
            ], body: .init())
        }
        let pulled = services.metrics.bytesPulled, zeroCopy = services.metrics.bytesPulledZeroCopy
        if let connection, length > 0, let slice = (try? await storage.openSlice(digest, range: bodyRange)) ?? nil,
           let token = await FileRegionResponseHandler.offer(slice, on: connection, sent: { pulled.increment(by: $0); zeroCopy.increment(by: $0) }) {
            // The handler writes the bytes; the body stays empty and Content-Length is the real one.
            headers[FileRegionResponseHandler.tokenField] = token
            return Response(status: status, headers: headers, body: .init())
        }
        let body = ResponseBody(contentLength: Int(length)) { writer in
            try await storage.read(digest, range: bodyRange) { chunk in
                pulled.increment(by: Int64(chunk.readableBytes))
                try await writer.write(chunk)
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    /// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n` (one range only).
    static func parseByteRange(_ header: String, size: Int64) -> Range<Int64>? {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("bytes="), !trimmed.contains(",") else { return nil }
        let spec = trimmed.dropFirst(6)
        guard let dash = spec.firstIndex(of: "-") else { return nil }
        let startText = spec[..<dash], endText = spec[spec.index(after: dash)...]
        if startText.isEmpty {
            guard let suffix = Int64(endText), suffix > 0, size > 0 else { return nil }
            return max(0, size - suffix)..<size
        }
        guard let start = Int64(startText), start >= 0, start < size else { return nil }
        if endText.isEmpty { return start..<size }
        guard let end = Int64(endText), end >= start else { return nil }
        return start..<min(end + 1, size)
    }

    func deleteBlob(repo: Repository, digest: Digest) async throws -> Response {
        guard try await services.store.unlinkBlob(repositoryID: repo.id, digest: digest) else {
            throw RegistryError(.blobUnknown, "blob \(digest) is not in repository \(repo.path)", detail: ["digest": digest.description])
        }
        // The bytes stay in storage until garbage collection finds no repository referencing them.
        return Response(status: .accepted, headers: [.dockerContentDigest: digest.description, .contentLength: "0"])
    }
}
