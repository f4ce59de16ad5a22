import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Registry
import SlipwayCore

/// `PUT /userfiles/<file_id>/<upload key>`: the upload half of a file drop (the URL that
/// `POST /api/v1/filedrop/` returned). Like Quay's signed storage URL it needs no other
/// credentials; the upload key binds it to the drop and its creator (`FileDropUploadKeys`), and
/// a drop takes one upload. The bytes are hashed while they stream into storage.
struct FileDropUpload: Sendable {
    let services: RegistryServices
    let store: BuildStore
    let uploadKeys: FileDropUploadKeys

    static let path = "/userfiles/:file_id/:upload_key"

    func register(_ router: Router<SlipwayRequestContext>) {
        router.put(RouterPath(Self.path)) { request, context in try await upload(request, context) }
    }

    private func refusal(_ error: APIError, _ request: Request) -> Response {
        error.response(baseURL: RequestOrigin(request: request, config: services.config).baseURL)
    }

    func upload(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        let id = context.parameters.get("file_id") ?? ""
        let key = context.parameters.get("upload_key") ?? ""
        // Unknown drop, a key that is not this drop's, or a drop already uploaded: one answer, so
        // the response tells nothing about drops the caller does not hold the key of.
        guard let drop = try await store.fileDrop(id: id), try await uploadKeys.verify(key, fileID: id, userID: drop.userID),
              drop.digest == nil else {
            return refusal(.notFound("file not found"), request)
        }
        let uploadID = UUID().uuidString.lowercased()
        try await services.storage.createUpload(uploadID)
        let writer = try await services.storage.uploadWriter(uploadID, at: 0)
        var digester = StreamingDigester()
        var size: Int64 = 0
        let limit = services.config.builds.maxContextBytes
        do {
            for try await chunk in request.body {
                size += Int64(chunk.readableBytes)
                if size > limit { throw APIError(.contentTooLarge, "invalid_request", "build contexts are limited to \(limit) bytes") }
                chunk.withUnsafeReadableBytes { digester.update($0) }
                try await writer.write(chunk)
            }
            _ = try await writer.commit()
        } catch {
            await writer.cancel()
            try? await services.storage.deleteUpload(uploadID)
            return refusal(error as? APIError ?? .invalidRequest("the upload was interrupted"), request)
        }
        let digest = digester.finalize(.sha256)!
        // A deletion of identical bytes in progress finishes before these are published.
        try await services.tombstones.hold(digest.description)
        try await services.storage.commitUpload(uploadID, as: digest)
        guard try await store.completeFileDrop(id: id, digest: digest.description, size: size) else {
            // A concurrent upload to the same drop won; these bytes are nobody's unless they
            // are the same as another owner's.
            try? await services.tombstones.release(digest.description)
            return refusal(APIError(.conflict, "invalid_request", "this file drop was uploaded already"), request)
        }
        return Response(status: .ok)
    }
}
