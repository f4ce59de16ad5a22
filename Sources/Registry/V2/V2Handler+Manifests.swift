import Accounts
import Audit
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SlipwayCore

/// Manifest GET/HEAD (with `Accept` negotiation), PUT (validated, size-capped) and DELETE.
extension V2Handler {
    func getManifest(_ request: Request, repo: Repository, reference: V2Route.ManifestReference, caller: V2Caller, ip: String?) async throws -> Response {
        let manifest: StoredManifest?
        switch reference {
        case .tag(let tag): manifest = try await services.store.manifest(repositoryID: repo.id, tag: tag)
        case .digest(let digest): manifest = try await services.store.manifest(repositoryID: repo.id, digest: digest)
        }
        guard let manifest else {
            throw RegistryError(.manifestUnknown, "manifest \(reference) not found in \(repo.path)", detail: ["reference": reference.description])
        }
        // Manifests are stored as pushed and never converted. One whose type the request's Accept
        // does not list is served anyway with its real Content-Type, as Quay does: tools that
        // send a narrow or no Accept (pubtools-quay's untyped get_manifest) read a 404 as "not
        // pushed yet"; a client that cannot parse the type sees it in the header.
        if request.method == .get {
            services.auditLog.record(.repository(.pullRepo, repo, performer: caller.actor, ip: ip, [reference.isTag ? "tag" : "manifest_digest": reference.description]))
        }
        let body = ByteBuffer(string: manifest.content)
        let headers: HTTPFields = [
            .contentType: manifest.mediaType,
            .dockerContentDigest: manifest.digest.description,
            .eTag: "\"\(manifest.digest)\"",
            .contentLength: String(body.readableBytes),
        ]
        return Response(status: .ok, headers: headers, body: request.method == .head ? .init() : .init(byteBuffer: body))
    }

    func putManifest(_ request: Request, name: String, repo: Repository, reference: V2Route.ManifestReference, caller: V2Caller, ip: String?) async throws -> Response {
        let limit = services.config.registry.maxManifestBytes
        // Manifests are the only request bodies collected in memory, and only up to the cap.
        var bytes = ByteBuffer()
        for try await chunk in request.body {
            if bytes.readableBytes + chunk.readableBytes > limit {
                throw RegistryError(.manifestInvalid, "manifest exceeds the maximum size of \(limit) bytes", status: .contentTooLarge)
            }
            var chunk = chunk
            bytes.writeBuffer(&chunk)
        }
        let data = Data(buffer: bytes)
        guard let content = String(validating: data, as: UTF8.self) else {
            throw RegistryError(.manifestInvalid, "manifest is not valid UTF-8 JSON")
        }
        let document = try ManifestDocument(bytes: data, contentType: request.headers[.contentType])
        var tag: String?
        let digest: Digest
        switch reference {
        case .digest(let expected):
            digest = Digest.compute(expected.algorithm, of: data)
            guard digest == expected else {
                throw RegistryError(.digestInvalid, "manifest digest mismatch: the body has digest \(digest), not \(expected)",
                                    detail: ["expected": expected.description, "computed": digest.description])
            }
        case .tag(let t):
            tag = t
            digest = Digest.sha256(of: data)
        }
        // `repo_push` goes into the notification outbox in the transaction that moves the tag, so
        // a tag change and its event commit together (or not at all).
        let origin = RequestOrigin(request: request, config: services.config)
        let base = origin.baseURL
        let host = base.replacingOccurrences(of: "https://", with: "").replacingOccurrences(of: "http://", with: "")
        let pushEvent: [String: EventValue]? = tag.map { tag in [
            "repository": .string(repo.path.description), "namespace": .string(repo.namespace), "name": .string(repo.name),
            "docker_url": .string("\(host)/\(repo.path)"), "homepage": .string("\(base)/repository/\(repo.path)"),
            "updated_tags": .strings([tag]),
        ] }
        let labels = ImageConfigLabels(storage: services.storage, logger: services.logger)
        let result = try await services.store.putManifest(repositoryID: repo.id, digest: digest, document: document, content: content, tag: tag,
                                                          labelsOfNewManifest: { await labels.read(document) },
                                                          pushEvent: pushEvent.map { (repo, $0) }, observers: manifestObservers)
        services.metrics.manifestsPushed.increment()
        if result.tagChanged, let tag {
            services.logger.info("tag pushed", metadata: ["repository": "\(repo.path)", "tag": "\(tag)", "digest": "\(digest)"])
            services.auditLog.record(.repository(.pushRepo, repo, performer: caller.actor, ip: ip, ["tag": tag, "manifest_digest": digest.description]))
        }
        var headers: HTTPFields = [
            .location: origin.location(name, "manifests/\(digest)"),
            .dockerContentDigest: digest.description,
            .contentLength: "0",
        ]
        if let subject = document.subject {
            headers[.ociSubject] = subject.digest.description
        }
        return Response(status: .created, headers: headers)
    }

    /// By tag, that tag ends; by digest, the manifest and every tag on it end. Each live tag
    /// removed gets a `delete_tag` usage log with the manifest it pointed at, as Quay records
    /// `skopeo delete` and friends. (Deleting an untagged manifest removes no tag and logs none.)
    func deleteManifest(repo: Repository, reference: V2Route.ManifestReference, caller: V2Caller? = nil) async throws -> Response {
        let ended: [MetadataStore.EndedTag]?
        switch reference {
        case .tag(let tag): ended = try await services.store.endTag(repositoryID: repo.id, name: tag).map { [$0] }
        case .digest(let digest): ended = try await services.store.endManifest(repositoryID: repo.id, digest: digest)
        }
        guard let ended else {
            throw RegistryError(.manifestUnknown, "manifest \(reference) not found in \(repo.path)", detail: ["reference": reference.description])
        }
        for tag in ended {
            services.auditLog.record(.repository(.deleteTag, repo, performer: caller?.actor, ip: caller?.ip,
                                              ["tag": tag.name, "manifest_digest": tag.digest.description]))
        }
        return Response(status: .accepted, headers: [.contentLength: "0"])
    }
}
