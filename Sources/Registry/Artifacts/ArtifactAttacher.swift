import Accounts
import Foundation
import NIOCore
import SlipwayCore

/// Stores a small artifact (an attestation, an SBOM) as an OCI image manifest whose `subject` is
/// an existing manifest of the repository, so `GET /v2/<name>/referrers/<digest>` lists it with
/// its `artifactType`: the OCI 1.1 way, readable by oras, cosign and `skopeo inspect --raw`.
///
/// This is Registry's own write path for other modules (the build farm attaches provenance and
/// SBOMs here): the blob goes through the storage driver and is verified by its digest, the
/// manifest through `putManifest` with no tag, exactly as a client push would store it.
public struct ArtifactAttacher: Sendable {
    /// OCI's empty config for artifacts (`{}`).
    static let emptyConfig = Data("{}".utf8)
    static let emptyConfigMediaType = MediaTypes.ociEmpty
    /// Larger artifacts belong in a client push, not in memory here.
    public static let maxArtifactBytes = 4 << 20

    let services: RegistryServices

    public init(services: RegistryServices) {
        self.services = services
    }

    /// Attaches `content` to `subject` in `repository`. Returns the artifact manifest's digest.
    public func attach(to subject: Descriptor, in repository: Repository, artifactType: String, contentMediaType: String,
                       content: Data, annotations: [String: String] = [:]) async throws -> Digest {
        guard content.count <= Self.maxArtifactBytes else { throw ArtifactTooLarge(size: content.count) }
        let config = try await storeBlob(Self.emptyConfig, in: repository)
        let layer = try await storeBlob(content, in: repository)
        var manifest: [String: Any] = [
            "schemaVersion": 2,
            "mediaType": MediaTypes.ociManifest,
            "artifactType": artifactType,
            "config": ["mediaType": Self.emptyConfigMediaType, "digest": config.description, "size": Self.emptyConfig.count],
            "layers": [["mediaType": contentMediaType, "digest": layer.description, "size": content.count]],
            "subject": ["mediaType": subject.mediaType, "digest": subject.digest.description, "size": subject.size],
        ]
        if !annotations.isEmpty { manifest["annotations"] = annotations }
        let bytes = try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys, .withoutEscapingSlashes])
        let document = try ManifestDocument(bytes: bytes, contentType: MediaTypes.ociManifest)
        let digest = Digest.sha256(of: bytes)
        _ = try await services.store.putManifest(repositoryID: repository.id, digest: digest, document: document,
                                                 content: String(decoding: bytes, as: UTF8.self), tag: nil)
        return digest
    }

    /// Writes `data` as a blob of the repository (once per digest in the store).
    private func storeBlob(_ data: Data, in repository: Repository) async throws -> Digest {
        let digest = Digest.sha256(of: data)
        if try await services.storage.stat(digest) == nil {
            let upload = "artifact-\(UUID().uuidString.lowercased())"
            try await services.storage.createUpload(upload)
            do {
                let writer = try await services.storage.uploadWriter(upload, at: 0)
                do {
                    try await writer.write(ByteBuffer(bytes: data))
                    _ = try await writer.commit()
                } catch {
                    await writer.cancel()
                    throw error
                }
                try await services.storage.commitUpload(upload, as: digest)
            } catch {
                try? await services.storage.deleteUpload(upload)
                throw error
            }
        }
        try await services.store.linkBlob(repositoryID: repository.id, digest: digest, size: Int64(data.count))
        return digest
    }
}

public struct ArtifactTooLarge: Error, CustomStringConvertible {
    public let size: Int
    public var description: String { "an attached artifact of \(size) bytes is larger than \(ArtifactAttacher.maxArtifactBytes)" }
}
