import Audit
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SlipwayCore

/// Tags (§1.2): list and history, create/move, delete, expiry (single and bulk) and restore
/// within the namespace's time-machine window.
///
/// | route | requirement |
/// |---|---|
/// | GET /api/v1/repository/{repository}/tag/ | repository read |
/// | PUT /api/v1/repository/{repository}/tag/{tag} | repository write |
/// | DELETE /api/v1/repository/{repository}/tag/{tag} | repository write |
/// | POST /api/v1/repository/{repository}/tag/{tag}/restore | repository write |
/// | POST /api/v1/repository/{repository}/tag/expiration | repository write (Slipway: bulk expiry) |
struct TagAPI {
    let services: RegistryServices

    func register(_ api: APIRoutes) {
        api.add(.get, "/api/v1/repository/{repository}/tag/", .repository(.read)) { try await list($0) }
        api.add(.put, "/api/v1/repository/{repository}/tag/{tag}", .repository(.write)) { try await put($0) }
        api.add(.delete, "/api/v1/repository/{repository}/tag/{tag}", .repository(.write)) { try await delete($0) }
        api.add(.post, "/api/v1/repository/{repository}/tag/{tag}/restore", .repository(.write)) { try await restore($0) }
        api.add(.post, "/api/v1/repository/{repository}/tag/expiration", .repository(.write)) { try await bulkExpiration($0) }
    }

    struct TagView: Encodable {
        let name: String
        let reversion: Bool
        let manifest_digest: String
        let is_manifest_list: Bool
        let size: Int64
        let start_ts: Int64
        let end_ts: Int64?
        let last_modified: String
        let expiration: String?
    }

    struct ListView: Encodable {
        let tags: [TagView]
        let page: Int
        let has_additional: Bool
    }

    func list(_ r: APIRequest) async throws -> Response {
        let q = r.request.uri.queryParameters
        let limit = min(max(Int(q["limit"].map(String.init) ?? "50") ?? 50, 1), 100)
        guard let page = Int(q["page"].map(String.init) ?? "1"), page >= 1 else { throw APIError.invalidRequest("page must be a positive integer") }
        var filter: MetadataStore.TagNameFilter?
        if let specific = q["specificTag"] {
            filter = .equals(String(specific))
        } else if let f = q["filter_tag_name"] {
            let text = String(f)
            if text.hasPrefix("like:") { filter = .contains(String(text.dropFirst(5))) }
            else if text.hasPrefix("eq:") { filter = .equals(String(text.dropFirst(3))) }
            else { throw APIError.invalidRequest("filter_tag_name must be like:<text> or eq:<name>") }
        }
        let onlyActive = q["onlyActiveTags"] == "true"
        let rows = try await services.store.tagRecords(repositoryID: r.repository!.id, filter: filter, onlyActive: onlyActive,
                                                       offset: (page - 1) * limit, limit: limit + 1)
        let now = Clock.nowMillis()
        let views = rows.prefix(limit).map { t in
            TagView(name: t.name, reversion: t.reversion, manifest_digest: t.digest.description, is_manifest_list: MediaTypes.isIndex(t.mediaType),
                    // As Quay: a tag that will expire carries its expiry both as `end_ts` and as
                    // `expiration`; an ended tag only as `end_ts`.
                    size: t.size, start_ts: t.start / 1000, end_ts: (t.end ?? t.expiration).map { $0 / 1000 },
                    last_modified: APIDates.rfc2822(millis: t.start),
                    expiration: t.isLive(now: now) ? t.expiration.map { APIDates.rfc2822(millis: $0) } : nil)
        }
        return APIResponse.json(ListView(tags: Array(views), page: page, has_additional: rows.count > limit))
    }

    /// `expiration` is a unix timestamp in seconds, or null to clear.
    struct PutBody: Decodable {
        let manifest_digest: String?
        let expiration: Int64??

        enum CodingKeys: String, CodingKey { case manifest_digest, expiration }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            manifest_digest = try c.decodeIfPresent(String.self, forKey: .manifest_digest)
            if c.contains(.expiration) {
                expiration = .some(try c.decodeNil(forKey: .expiration) ? nil : try c.decode(Int64.self, forKey: .expiration))
            } else {
                expiration = .none
            }
        }
    }

    func validTag(_ r: APIRequest) throws(APIError) -> String {
        let tag = r.parameter("tag")
        guard Names.isValidTag(tag) else { throw APIError.invalidRequest("Invalid tag name: \(Names.tagRule)") }
        return tag
    }

    func put(_ r: APIRequest) async throws -> Response {
        let repo = r.repository!
        let tag = try validTag(r)
        let body = try await r.decode(PutBody.self)
        if body.manifest_digest == nil && body.expiration == nil { throw APIError.invalidRequest("give manifest_digest and/or expiration") }
        if let text = body.manifest_digest {
            guard let digest = try? Digest(parsing: text) else { throw APIError.invalidRequest("invalid manifest_digest") }
            let existed = try await services.store.tagRecords(repositoryID: repo.id, filter: .equals(tag), onlyActive: true, offset: 0, limit: 1).first
            guard let changed = try await services.store.pointTag(repositoryID: repo.id, name: tag, digest: digest) else {
                throw APIError.notFound("manifest \(digest) is not in this repository")
            }
            if changed {
                services.auditLog.record(.repository(existed == nil ? .createTag : .moveTag, repo, performer: r.actor, ip: r.ip,
                                                  ["tag": tag, "manifest_digest": digest.description]))
            }
        }
        if case .some(let expiration) = body.expiration {
            let expirationMillis = try expiration.map { seconds throws(APIError) in try APIInput.milliseconds(fromSeconds: seconds, field: "expiration") }
            if let expirationMillis, expirationMillis <= Clock.nowMillis() {
                throw APIError.invalidRequest("Expiration date must be in the future")
            }
            guard try await services.store.setTagExpiration(repositoryID: repo.id, name: tag, expiration: expirationMillis) else {
                throw APIError.notFound("tag \(tag) not found")
            }
            services.auditLog.record(.repository(.changeTagExpiration, repo, performer: r.actor, ip: r.ip,
                                              ["tag": tag, "expiration_date": expiration.map(String.init) ?? "none"]))
        }
        return APIResponse.message("Updated", status: .created)
    }

    func delete(_ r: APIRequest) async throws -> Response {
        let repo = r.repository!
        let tag = try validTag(r)
        guard try await services.store.deleteTag(repositoryID: repo.id, name: tag) else { throw APIError.notFound("tag \(tag) not found") }
        services.auditLog.record(.repository(.deleteTag, repo, performer: r.actor, ip: r.ip, ["tag": tag]))
        return APIResponse.noContent()
    }

    struct RestoreBody: Decodable { let manifest_digest: String }

    func restore(_ r: APIRequest) async throws -> Response {
        let repo = r.repository!
        let tag = try validTag(r)
        let body = try await r.decode(RestoreBody.self)
        guard let digest = try? Digest(parsing: body.manifest_digest) else { throw APIError.invalidRequest("invalid manifest_digest") }
        let window = try await services.store.timeMachineSeconds(namespaceID: repo.namespaceID)
        switch try await services.store.restoreTag(repositoryID: repo.id, name: tag, digest: digest, windowSeconds: window) {
        case .restored:
            services.auditLog.record(.repository(.revertTag, repo, performer: r.actor, ip: r.ip, ["tag": tag, "manifest_digest": digest.description]))
            return APIResponse.json([String: String]())
        case .neverInRepository:
            throw APIError.invalidRequest("tag \(tag) never pointed at \(digest) in this repository")
        case .outsideWindow:
            throw APIError.invalidRequest("\(digest) left tag \(tag) longer ago than the namespace's time machine window (\(window) s)")
        }
    }

    struct BulkBody: Decodable {
        let tags: [String]
        let expiration: Int64?
    }

    func bulkExpiration(_ r: APIRequest) async throws -> Response {
        let repo = r.repository!
        let body = try await r.decode(BulkBody.self)
        guard !body.tags.isEmpty, body.tags.count <= 500 else { throw APIError.invalidRequest("give between 1 and 500 tags") }
        if let bad = body.tags.first(where: { !Names.isValidTag($0) }) { throw APIError.invalidRequest("Invalid tag name '\(bad.prefix(140))'") }
        let expirationMillis = try body.expiration.map { seconds throws(APIError) in try APIInput.milliseconds(fromSeconds: seconds, field: "expiration") }
        if let e = expirationMillis, e <= Clock.nowMillis() { throw APIError.invalidRequest("Expiration date must be in the future") }
        var missing: [String] = []
        for tag in body.tags {
            if try await services.store.setTagExpiration(repositoryID: repo.id, name: tag, expiration: expirationMillis) {
                services.auditLog.record(.repository(.changeTagExpiration, repo, performer: r.actor, ip: r.ip,
                                                  ["tag": tag, "expiration_date": body.expiration.map(String.init) ?? "none"]))
            } else {
                missing.append(tag)
            }
        }
        struct View: Encodable { let updated: Int; let missing: [String] }
        return APIResponse.json(View(updated: body.tags.count - missing.count, missing: missing))
    }
}
