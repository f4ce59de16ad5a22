import Foundation
import NIOCore
import SlipwayCore

/// Reads labels from a pushed image's config blob, stores them as `manifest` labels and applies
/// `quay.expires-after` to the tag that was just pushed. Failures never fail the push: labels
/// are metadata, the image is already stored.
struct ManifestLabeler: Sendable {
    let services: RegistryServices

    static let maxConfigBytes: Int64 = 1 << 20

    func apply(manifestID: Int64, document: ManifestDocument, repositoryID: Int64) async {
        guard let config = document.config, config.size <= Self.maxConfigBytes,
              config.mediaType.contains("config") || config.mediaType.contains("container.image") else { return }
        do {
            var bytes = ByteBuffer()
            try await services.storage.read(config.digest, range: 0..<config.size) { chunk in
                var chunk = chunk
                bytes.writeBuffer(&chunk)
            }
            struct ImageConfig: Decodable {
                struct Inner: Decodable { let Labels: [String: String]? }
                let config: Inner?
            }
            let labels = (try? JSONDecoder().decode(ImageConfig.self, from: Data(buffer: bytes)))?.config?.Labels ?? [:]
            try await services.store.replaceManifestLabels(manifestID: manifestID, labels: labels)
            if let value = labels[ExpiresAfter.labelKey], let seconds = ExpiresAfter.seconds(value) {
                try await services.store.setExpirationForManifestTags(manifestID: manifestID, expiration: Clock.nowMillis() + seconds * 1000)
            }
        } catch {
            services.logger.warning("reading image labels failed", metadata: ["manifest.id": "\(manifestID)", "error": "\(error)"])
        }
    }
}
