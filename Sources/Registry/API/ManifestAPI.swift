import Audit
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SlipwayCore

/// Manifests and their labels (§1.3).
///
/// | route | requirement |
/// |---|---|
/// | GET /api/v1/repository/{repository}/manifest/{manifestref} | repository read |
/// | GET /api/v1/repository/{repository}/manifest/{manifestref}/labels | repository read |
/// | POST /api/v1/repository/{repository}/manifest/{manifestref}/labels | repository write |
/// | GET /api/v1/repository/{repository}/manifest/{manifestref}/labels/{labelid} | repository read |
/// | DELETE /api/v1/repository/{repository}/manifest/{manifestref}/labels/{labelid} | repository write |
struct ManifestAPI {
    let services: RegistryServices

    static let reservedPrefixes = ["com.docker.", "io.docker.", "org.dockerproject.", "org.opencontainers.", "io.cncf.", "io.kubernetes.",
                                   "io.k8s.", "io.quay", "com.coreos", "com.tectonic", "internal", "quay"]

    func register(_ api: APIRoutes) {
        let base = "/api/v1/repository/{repository}/manifest/{manifestref}"
        api.add(.get, base, .repository(.read)) { try await get($0) }
        api.add(.get, base + "/labels", .repository(.read)) { try await listLabels($0) }
        api.add(.post, base + "/labels", .repository(.write)) { try await addLabel($0) }
        api.add(.get, base + "/labels/{labelid}", .repository(.read)) { try await getLabel($0) }
        api.add(.delete, base + "/labels/{labelid}", .repository(.write)) { try await deleteLabel($0) }
    }

    func manifest(_ r: APIRequest) async throws -> StoredManifest {
        guard let digest = try? Digest(parsing: r.parameter("manifestref")) else { throw APIError.invalidRequest("invalid manifest digest") }
        guard let m = try await services.store.manifest(repositoryID: r.repository!.id, digest: digest) else {
            throw APIError.notFound("manifest \(digest) not found")
        }
        return m
    }

    struct ManifestView: Encodable {
        struct Layer: Encodable { let index: Int; let digest: String; let compressed_size: Int64; let media_type: String }
        let digest: String
        let is_manifest_list: Bool
        let manifest_data: String
        let config_media_type: String?
        let layers_compressed_size: Int64
        let layers: [Layer]?
    }

    func get(_ r: APIRequest) async throws -> Response {
        let m = try await manifest(r)
        let doc = try? ManifestDocument(bytes: Array(m.content.utf8), contentType: m.mediaType)
        let layers = doc?.layers.enumerated().map { ManifestView.Layer(index: $0.offset, digest: $0.element.digest.description,
                                                                        compressed_size: $0.element.size, media_type: $0.element.mediaType) }
        return APIResponse.json(ManifestView(digest: m.digest.description, is_manifest_list: MediaTypes.isIndex(m.mediaType), manifest_data: m.content,
                                             config_media_type: doc?.config?.mediaType, layers_compressed_size: doc?.layers.reduce(0) { $0 + $1.size } ?? 0,
                                             layers: doc?.isIndex == false ? layers : nil))
    }

    func listLabels(_ r: APIRequest) async throws -> Response {
        let m = try await manifest(r)
        let prefix = r.request.uri.queryParameters["filter"].map(String.init)
        return APIResponse.json(["labels": try await services.store.labels(manifestID: m.id, prefix: prefix)])
    }

    struct AddBody: Decodable {
        let key: String
        let value: String
        let media_type: String?
    }

    /// Validates a label key with Quay's rules; the message matches the guide's UI errors.
    static func keyProblem(_ key: String) -> String? {
        let u = Array(key.utf8)
        if u.isEmpty || u.count > 255 { return "Label key must be 1 to 255 characters" }
        func alnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
        guard alnum(u.first!), alnum(u.last!) else { return "Invalid label key: must start and end with a-z or 0-9" }
        for i in u.indices {
            let c = u[i]
            if alnum(c) { continue }
            guard c == UInt8(ascii: "-") || c == UInt8(ascii: ".") else { return "Invalid label key: use a-z, 0-9, '-' and '.'" }
            let next = u[i + 1]
            if next == UInt8(ascii: "-") || next == UInt8(ascii: ".") { return "Invalid label key: '.' and '-' cannot repeat" }
        }
        if let prefix = reservedPrefixes.first(where: { key.hasPrefix($0) }) { return "Label has a reserved prefix: \(prefix)" }
        return nil
    }

    func addLabel(_ r: APIRequest) async throws -> Response {
        let m = try await manifest(r)
        let body = try await r.decode(AddBody.self)
        if let problem = Self.keyProblem(body.key) { throw APIError.invalidRequest(problem) }
        let mediaType = body.media_type ?? "text/plain"
        guard ["text/plain", "application/json"].contains(mediaType) else { throw APIError.invalidRequest("media_type must be text/plain or application/json") }
        if mediaType == "application/json", (try? JSONSerialization.jsonObject(with: Data(body.value.utf8), options: [.fragmentsAllowed])) == nil {
            throw APIError.invalidRequest("label value is not valid JSON")
        }
        guard body.value.utf8.count <= 64 * 1024 else { throw APIError.invalidRequest("label value is limited to 64 KiB") }
        let label = try await services.store.addLabel(manifestID: m.id, key: body.key, value: body.value, source: "api", mediaType: mediaType)
        // A label added later still sets the expiry of every live tag on the manifest.
        if body.key == ExpiresAfter.labelKey, let seconds = ExpiresAfter.seconds(body.value) {
            try await services.store.setExpirationForManifestTags(manifestID: m.id, expiration: Clock.nowMillis() + seconds * 1000)
        }
        services.auditLog.record(.repository(.manifestLabelAdd, r.repository!, performer: r.actor, ip: r.ip,
                                          ["label.key": body.key, "label.value": String(body.value.prefix(256)), "manifest_digest": m.digest.description]))
        let location = "/api/v1/repository/\(r.repository!.path)/manifest/\(m.digest)/labels/\(label.id)"
        return APIResponse.json(["label": label], status: .created, headers: [.location: location])
    }

    func getLabel(_ r: APIRequest) async throws -> Response {
        let m = try await manifest(r)
        guard let label = try await services.store.label(manifestID: m.id, id: r.parameter("labelid")) else { throw APIError.notFound("label not found") }
        return APIResponse.json(label)
    }

    func deleteLabel(_ r: APIRequest) async throws -> Response {
        let m = try await manifest(r)
        guard let label = try await services.store.label(manifestID: m.id, id: r.parameter("labelid")) else { throw APIError.notFound("label not found") }
        guard label.source_type == "api" else { throw APIError.invalidRequest("only labels added through the API can be deleted") }
        try await services.store.deleteLabel(manifestID: m.id, id: label.id)
        services.auditLog.record(.repository(.manifestLabelDelete, r.repository!, performer: r.actor, ip: r.ip,
                                          ["label.key": label.key, "manifest_digest": m.digest.description]))
        return APIResponse.noContent()
    }
}
