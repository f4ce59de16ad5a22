import Foundation
import Logging
import NIOCore
import SlipwayCore

/// Reads the labels of a pushed image from its config blob (`config.Labels`). They are stored
/// as `manifest` labels with the manifest, and `quay.expires-after` among them sets the expiry
/// of its tags. A config that cannot be read gives no labels and never fails the push: labels
/// are metadata, the image itself is valid.
struct ImageConfigLabels: Sendable {
    let storage: any BlobStorageDriver
    let logger: Logger

    static let maxConfigBytes: Int64 = 1 << 20

    func read(_ document: ManifestDocument) async -> [String: String] {
        guard let config = document.config, config.size <= Self.maxConfigBytes,
              config.mediaType.contains("config") || config.mediaType.contains("container.image") else { return [:] }
        do {
            var bytes = ByteBuffer()
            try await storage.read(config.digest, range: 0..<config.size) { chunk in
                var chunk = chunk
                bytes.writeBuffer(&chunk)
            }
            struct ImageConfig: Decodable {
                struct Inner: Decodable { let Labels: [String: String]? }
                let config: Inner?
            }
            return (try? JSONDecoder().decode(ImageConfig.self, from: Data(buffer: bytes)))?.config?.Labels ?? [:]
        } catch {
            logger.warning("reading image labels failed", metadata: ["config.digest": "\(config.digest)", "error": "\(error)"])
            return [:]
        }
    }
}
