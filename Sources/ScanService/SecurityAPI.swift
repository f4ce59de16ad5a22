import Foundation
import Hummingbird
import Registry
import Scanner
import SlipwayCore

/// Quay's security endpoint (`endpoints/api/secscan.py`) over the scan pipeline.
///
/// | route | requirement |
/// |---|---|
/// | GET /api/v1/repository/{repository}/manifest/{manifestref}/security | repository read |
///
/// `status` is `queued`, `scanned`, `failed` or `unsupported`; once scanned, `data` holds the
/// report in Quay's Clair v4 shape (`data.Layer.Features[]`), each feature with its
/// `Vulnerabilities[]` when `?vulnerabilities=true` (Quay's default is without). A failed or
/// unsupported manifest also carries `reason` (a Slipway addition Quay clients ignore). An
/// unknown manifest is Quay's 404 body.
struct SecurityAPI {
    let services: RegistryServices
    let store: ScanStore

    func register(_ api: APIRoutes) {
        api.add(.get, "/api/v1/repository/{repository}/manifest/{manifestref}/security", .repository(.read)) { try await get($0) }
    }

    struct Body: Encodable {
        let status: String
        let data: VulnerabilityReport?
        let reason: String?

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(status, forKey: .status)
            try c.encode(data, forKey: .data)  // `null` until scanned, as Quay
            try c.encodeIfPresent(reason, forKey: .reason)
        }

        enum CodingKeys: String, CodingKey { case status, data, reason }
    }

    func get(_ r: APIRequest) async throws -> Response {
        guard let digest = try? Digest(parsing: r.parameter("manifestref")),
              let manifest = try await services.store.manifest(repositoryID: r.repository!.id, digest: digest) else {
            throw APIError.notFound("manifest \(r.parameter("manifestref")) not found")
        }
        guard let scan = try await store.manifest(digest.description) else {
            // Stored before the scanner was installed: queued now.
            try await queue(digest: digest, repositoryID: r.repository!.id, mediaType: manifest.mediaType)
            return APIResponse.json(Body(status: ScanStatus.queued.rawValue, data: nil, reason: nil))
        }
        var report = scan.status == .scanned ? scan.report : nil
        let vulnerabilities = r.request.uri.queryParameters["vulnerabilities"].map { String($0).lowercased() == "true" } ?? false
        if !vulnerabilities, var stripped = report {
            for i in stripped.Layer.Features.indices { stripped.Layer.Features[i].Vulnerabilities = [] }
            report = stripped
        }
        let reason = scan.status == .failed || scan.status == .unsupported ? scan.reason : nil
        return APIResponse.json(Body(status: scan.status.rawValue, data: report, reason: reason))
    }

    private func queue(digest: Digest, repositoryID: Int64, mediaType: String) async throws {
        let jobs = services.jobs
        try await services.database.transaction { db in
            if MediaTypes.isIndex(mediaType) {
                try await ScanStore.recordUnsupported(digest: digest, repositoryID: repositoryID,
                                                      reason: "an image index: each of its manifests is scanned on its own", in: db)
            } else {
                _ = try await ScanStore.enqueue(digest: digest, repositoryID: repositoryID, jobs: jobs, in: db)
            }
        }
    }
}
