import Foundation
import Registry

/// `/repository/<repo>/tag/<tag>`: one live tag with its digest, size, labels, times, layers
/// (or platforms of a manifest list) and the pull commands. Actions reuse `tags.js`.
struct TagDetailsPage {
    let server: PageServer

    struct Layer {
        let index: Int
        let digest: String
        let shortDigest: String
        let size: String
        let mediaType: String
    }

    struct Child {
        let digest: String
        let shortDigest: String
        let platform: String
        let size: String
        let security: SecurityCell
    }

    struct LabelView {
        let key: String
        let value: String
        let source: String
    }

    struct Model {
        let header: RepositoryHeader
        let tag: String
        let digest: String
        let mediaType: String
        let size: String
        let created: TimeView
        let modified: TimeView
        let expiration: TimeView?
        let labels: [LabelView]
        let hasLabels: Bool
        let layers: [Layer]
        let hasLayers: Bool
        let children: [Child]
        let hasChildren: Bool
        let podmanByTag: String
        let dockerByTag: String
        let podmanByDigest: String
        let dockerByDigest: String
        let canWrite: Bool
        let tagsURL: String
        /// The manifest's scan (nil for a manifest list: its platforms have one each).
        let security: SecurityCell?
    }

    func page(_ r: PageRequest, access: RepositoryAccess, tag: String) async throws -> Page {
        let repo = access.repository
        let store = server.services.store
        guard Names.isValidTag(tag),
              let record = try await store.tagRecords(repositoryID: repo.id, filter: .equals(tag), onlyActive: true, offset: 0, limit: 1).first,
              let manifest = try await store.manifest(repositoryID: repo.id, digest: record.digest) else {
            throw PageExit.notFound
        }
        // "Created": when the tag first pointed at this manifest, without a gap since.
        let history = try await store.tagRecords(repositoryID: repo.id, filter: .equals(tag), onlyActive: false, offset: 0, limit: 50)
        var created = record.start
        for older in history.dropFirst() {
            guard older.digest == record.digest, older.end == created else { break }
            created = older.start
        }
        let document = try? ManifestDocument(bytes: Array(manifest.content.utf8), contentType: manifest.mediaType)
        let layers = (document?.layers ?? []).enumerated().map { i, d in
            Layer(index: i + 1, digest: d.digest.description, shortDigest: Formatting.shortDigest(d.digest.description),
                  size: Formatting.size(d.size), mediaType: d.mediaType)
        }
        let childDescriptors = document?.manifests ?? []
        let scans = try await server.scans.summaries(childDescriptors.map(\.digest.description) + [record.digest.description])
        let children = childDescriptors.map { d in
            Child(digest: d.digest.description, shortDigest: Formatting.shortDigest(d.digest.description),
                  platform: [d.platform?.os, d.platform?.architecture, d.platform?.variant].compactMap { $0 }.joined(separator: "/"),
                  size: Formatting.size(d.size),
                  security: SecurityCell.make(scans[d.digest.description], url: RepositoryURL.security(repo.path, digest: d.digest.description)))
        }
        let security = MediaTypes.isIndex(manifest.mediaType) ? nil
            : SecurityCell.make(scans[record.digest.description], url: RepositoryURL.security(repo.path, digest: record.digest.description))
        let labels = try await store.labels(manifestID: manifest.id, prefix: nil).map { LabelView(key: $0.key, value: $0.value, source: $0.source_type) }
        let header = try await RepositoryHeader.make(access, tab: "tags", request: r, services: server.services)
        let ref = "\(header.registry.host)/\(repo.path)"
        let model = Model(
            header: header, tag: tag, digest: record.digest.description, mediaType: manifest.mediaType, size: Formatting.size(record.size),
            created: TimeView(millis: created), modified: TimeView(millis: record.start), expiration: TimeView(millis: record.expiration),
            labels: labels, hasLabels: !labels.isEmpty, layers: layers, hasLayers: !layers.isEmpty, children: children, hasChildren: !children.isEmpty,
            podmanByTag: header.registry.podman("pull", "\(ref):\(tag)"), dockerByTag: "docker pull \(ref):\(tag)",
            podmanByDigest: header.registry.podman("pull", "\(ref)@\(record.digest)"), dockerByDigest: "docker pull \(ref)@\(record.digest)",
            canWrite: access.canWrite, tagsURL: RepositoryURL.page(repo.path, tab: "tags"), security: security)
        return Page(title: "\(repo.path):\(tag)", template: "tag_details", model: model, scripts: ["tags.js"], nav: .repositories)
    }
}
