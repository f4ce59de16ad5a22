import Audit
import Foundation
import Hummingbird

/// Quay's global messages (`endpoints/api/globalmessages.py`): the maintenance banner every page
/// shows. Anyone reads them; superusers post and delete them.
///
/// - GET    /api/v1/messages          anonymous → `{messages: [{uuid, content, media_type, severity}]}`
/// - POST   /api/v1/messages          superuser, `{message: {content, media_type, severity}}` → 201
/// - DELETE /api/v1/message/{uuid}    superuser → 204
struct MessagesAPI {
    let services: RegistryServices

    /// Longest message accepted; a banner, not a document.
    static let maxContentLength = 10_000

    func register(_ api: APIRoutes) {
        api.add(.get, "/api/v1/messages", .anonymous) { _ in
            APIResponse.json(["messages": try await services.globalMessages.all()])
        }
        api.add(.post, "/api/v1/messages", .superuser) { try await create($0) }
        api.add(.delete, "/api/v1/message/{uuid}", .superuser) { try await delete($0) }
    }

    struct NewMessage: Decodable {
        struct Message: Decodable {
            let content: String
            let media_type: String
            let severity: String
        }
        let message: Message
    }

    func create(_ r: APIRequest) async throws -> Response {
        let input = try await r.decode(NewMessage.self).message
        let content = input.content.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !content.isEmpty else { throw APIError.invalidRequest("'content' must not be empty") }
        guard content.count <= Self.maxContentLength else {
            throw APIError.invalidRequest("'content' is limited to \(Self.maxContentLength) characters")
        }
        guard let mediaType = GlobalMessage.MediaType(rawValue: input.media_type) else {
            throw APIError.invalidRequest("'media_type' must be one of \(GlobalMessage.MediaType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let severity = GlobalMessage.Severity(rawValue: input.severity) else {
            throw APIError.invalidRequest("'severity' must be one of \(GlobalMessage.Severity.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let message = try await services.globalMessages.create(content: content, mediaType: mediaType, severity: severity)
        services.auditLog.record(AuditEvent(kind: .createMessage, performer: r.actor, namespace: r.caller.map { ($0.user.id, $0.user.name) },
                                            ip: r.ip, metadata: ["uuid": message.uuid, "severity": severity.rawValue]))
        return APIResponse.json(message, status: .created)
    }

    func delete(_ r: APIRequest) async throws -> Response {
        let uuid = r.parameter("uuid")
        guard try await services.globalMessages.delete(uuid: uuid) else { throw APIError.notFound("message not found") }
        services.auditLog.record(AuditEvent(kind: .deleteMessage, performer: r.actor, namespace: r.caller.map { ($0.user.id, $0.user.name) },
                                            ip: r.ip, metadata: ["uuid": uuid]))
        return APIResponse.noContent()
    }
}
