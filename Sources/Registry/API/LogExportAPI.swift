import Accounts
import Audit
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OutboundHTTP
import SlipwayCore

/// Usage-log exports (§1.11): queue an export of a repository's, the caller's or an
/// organization's logs; `LogExporter` writes the file and calls back with a signed link, which
/// the last route serves.
///
/// | route | requirement |
/// |---|---|
/// | POST /api/v1/repository/{repository}/exportlogs | repository admin |
/// | POST /api/v1/user/exportlogs | signed in, user:admin |
/// | POST /api/v1/organization/{orgname}/exportlogs | organization admin |
/// | GET /api/v1/exportedlogs/{export_id}?token= | anonymous: the signed token is the credential |
struct LogExportAPI {
    let services: RegistryServices
    let links: LogExportLinks

    init(services: RegistryServices) {
        self.services = services
        self.links = LogExportLinks(keys: InstanceKeys(database: services.store.database))
    }

    func register(_ api: APIRoutes) {
        api.add(.post, "/api/v1/repository/{repository}/exportlogs", .repository(.admin)) { r in
            let repo = r.repository!
            return try await queue(r, .repository(repo.id), namespace: repo.namespace, repository: repo) { export in
                .repository(.exportLogsSuccess, repo, performer: r.actor, ip: r.ip, export)
            }
        }
        api.add(.post, "/api/v1/user/exportlogs", .user(scope: "user:admin")) { r in
            let user = try r.user
            return try await queue(r, .performer(user.id), namespace: user.name, repository: nil) { export in
                AuditEvent(kind: .exportLogsSuccess, performer: r.actor, namespace: (user.id, user.name), ip: r.ip, metadata: export)
            }
        }
        api.add(.post, "/api/v1/organization/{orgname}/exportlogs", .organizationAdmin) { r in
            let org = r.organization!
            return try await queue(r, .namespace(org.id), namespace: org.name, repository: nil) { export in
                AuditEvent(kind: .exportLogsSuccess, performer: r.actor, namespace: (org.id, org.name), ip: r.ip, metadata: export)
            }
        }
        api.add(.get, "/api/v1/exportedlogs/{export_id}", .anonymous) { try await download($0) }
    }

    struct ExportRequest: Decodable {
        let callback_url: String?
        let callback_email: String?
    }

    func queue(_ r: APIRequest, _ scope: UsageLogScope, namespace: String, repository: Repository?,
               event: ([String: String]) -> AuditEvent) async throws -> Response {
        let body = try await r.decode(ExportRequest.self)
        // Quay treats empty strings as absent.
        let url = body.callback_url.flatMap { $0.isEmpty ? nil : $0 }
        let email = body.callback_email.flatMap { $0.isEmpty ? nil : $0 }
        guard url != nil || email != nil else { throw APIError.invalidRequest("a callback_url or a callback_email is required") }
        if let email, !Self.looksLikeEmail(email) { throw APIError.invalidRequest("Invalid callback e-mail") }
        let (start, end) = try LogsAPI.range(r)
        if let url {
            do {
                _ = try await URLSafety.check(url, allowPrivate: services.config.security.allowPrivateTargets)
            } catch {
                throw APIError.invalidRequest("Invalid callback URL: \(error.reason)")
            }
        }
        let export = try await services.auditStore.createLogExport(.init(
            requesterID: try r.user.id, scope: scope, namespaceName: namespace, repositoryName: repository?.name,
            start: start, end: end, callbackURL: url, callbackEmail: email, origin: r.origin))
        var metadata = ["export_id": export.uuid]
        if let url { metadata["url"] = Self.redacted(url) }
        if let email { metadata["email"] = email }
        services.auditLog.record(event(metadata))
        return APIResponse.json(["export_id": export.uuid])
    }

    /// A plausible single address: `local@domain.tld`, no spaces, at most 254 characters. Delivery
    /// proves the rest.
    static func looksLikeEmail(_ text: String) -> Bool {
        guard text.utf8.count <= 254, !text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7f }) else { return false }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64 else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" } }
    }

    /// The callback URL for the usage log, without credentials or query (they may be secrets).
    static func redacted(_ url: String) -> String {
        guard var c = URLComponents(string: url) else { return "" }
        c.user = nil
        c.password = nil
        c.query = nil
        c.fragment = nil
        return c.string ?? ""
    }

    func download(_ r: APIRequest) async throws -> Response {
        let exportID = r.parameter("export_id")
        let token = r.request.uri.queryParameters["token"].map(String.init) ?? ""
        // The token is checked before the export is looked up, so a bad link learns nothing.
        guard try await links.verify(exportID: exportID, token: token) else {
            throw APIError.insufficientScope("the export link is invalid or has expired")
        }
        guard let export = try await services.auditStore.logExport(uuid: exportID), export.result == .success,
              let digest = export.storageDigest, let size = try await services.storage.stat(digest) else {
            throw APIError.notFound("exported logs not found")
        }
        let storage = services.storage
        let body = ResponseBody(contentLength: Int(size)) { writer in
            try await storage.read(digest, range: 0..<size) { try await writer.write($0) }
            try await writer.finish(nil)
        }
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "private, no-store"]
        headers[.contentDisposition] = "attachment; filename=\"logs-\(export.uuid).json\""
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: body)
    }
}
