import Accounts
import Foundation
import Logging
import Registry
import SlipwayCore

/// After a build completes, attaches to each manifest it pushed a signed SLSA provenance
/// statement (a DSSE envelope, `artifactType` `application/vnd.in-toto+json`) and an SPDX SBOM
/// (`application/spdx+json`), both as OCI referrers of the image. A failure here is logged and
/// never changes the build's outcome: the image is pushed and complete either way.
struct BuildAttestor: Sendable {
    let services: RegistryServices
    let store: BuildStore

    struct Context: Sendable {
        /// `host[:port]` the image was pushed to, and the URL the builder identity is under.
        let registry: String
        let baseURL: String
        let dockerfileDigest: String?
    }

    func attest(buildUUID: String, _ context: Context) async {
        do {
            try await attestOrThrow(buildUUID: buildUUID, context)
        } catch {
            services.logger.error("attaching the build's provenance and SBOM failed",
                                  metadata: ["build.id": "\(buildUUID)", "error": "\(error)"])
        }
    }

    private func attestOrThrow(buildUUID: String, _ context: Context) async throws {
        guard let record = try await store.build(uuid: buildUUID), record.phase == .complete,
              let repository = try await services.accounts.repositoryByID(record.repositoryID) else { return }
        let key = try await AttestationKey.load(InstanceKeys(database: services.database))
        let attacher = ArtifactAttacher(services: services)
        let uploadDigest = try await record.fileID.asyncMap { try await store.fileDrop(id: $0)?.digest } ?? nil
        let created = Clock.nowMillis()
        for digestText in Set(record.manifestDigests.values).sorted() {
            guard let digest = try? Digest(parsing: digestText),
                  let manifest = try await services.store.manifest(repositoryID: repository.id, digest: digest) else { continue }
            let annotations = Self.annotations(of: manifest)
            let subject = Descriptor(mediaType: manifest.mediaType, digest: digest, size: manifest.size)
            let statement = BuildProvenance.statement(.init(
                record: record, repository: repository.path.description, registry: context.registry,
                builderID: "\(context.baseURL)/buildworker/\(record.workerID ?? "unknown")", imageDigest: digestText,
                imageAnnotations: annotations, dockerfileDigest: context.dockerfileDigest, uploadDigest: uploadDigest))
            let payload = try JSONSerialization.data(withJSONObject: statement, options: [.sortedKeys, .withoutEscapingSlashes])
            let envelope = try DSSEEnvelope.signed(payload, payloadType: BuildProvenance.payloadType, key: key)
            let envelopeBytes = try JSONEncoder().encode(envelope)
            let stamp = BuildProvenance.iso(created)
            _ = try await attacher.attach(to: subject, in: repository, artifactType: BuildProvenance.payloadType,
                                          contentMediaType: DSSEEnvelope.mediaType, content: envelopeBytes,
                                          annotations: ["org.opencontainers.image.created": stamp,
                                                        "in-toto.io/predicate-type": BuildProvenance.predicateType,
                                                        "dev.slipway.build.id": record.uuid])
            let sbom = BuildSBOM.document(repository: repository.path.description, registry: context.registry, imageDigest: digestText,
                                          annotations: annotations, buildUUID: record.uuid, namespaceURL: context.baseURL, created: created)
            _ = try await attacher.attach(to: subject, in: repository, artifactType: BuildSBOM.mediaType, contentMediaType: BuildSBOM.mediaType,
                                          content: try JSONSerialization.data(withJSONObject: sbom, options: [.sortedKeys, .withoutEscapingSlashes]),
                                          annotations: ["org.opencontainers.image.created": stamp, "dev.slipway.build.id": record.uuid])
        }
    }

    /// The manifest's own annotations (buildah records the base image there).
    static func annotations(of manifest: StoredManifest) -> [String: String] {
        if let stored = manifest.annotations { return stored }
        guard let object = try? JSONSerialization.jsonObject(with: Data(manifest.content.utf8)) as? [String: Any] else { return [:] }
        return (object["annotations"] as? [String: String]) ?? [:]
    }
}
