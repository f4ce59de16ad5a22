import Foundation
import Logging
import ObjectStorage
import SlipwayCore

/// Picks and builds the blob storage driver `storage.driver` names, and checks at start-up that
/// it works: a wrong S3 key or a missing bucket stops the server with a message naming the key.
public enum BlobStorageFactory {
    public static func make(config: SlipwayConfig, environment: [String: String] = ProcessInfo.processInfo.environment,
                            logger: Logger) async throws -> any BlobStorageDriver {
        switch config.storage.driver {
        case .filesystem:
            return try await FilesystemBlobStorage(root: config.resolvedStoragePath)
        case .s3:
            let storage = try s3(config.storage.s3, environment: environment, logger: logger)
            try await storage.verify()
            return storage
        }
    }

    /// The S3 driver for `settings`, with the standard AWS variables filling unset credentials
    /// and region. Does not contact S3.
    public static func s3(_ settings: SlipwayConfig.Storage.S3, environment: [String: String], logger: Logger) throws -> S3BlobStorage {
        func setting(_ value: String, _ variable: String) -> String {
            value.isEmpty ? (environment[variable] ?? "") : value
        }
        let region = setting(settings.region, "AWS_REGION").isEmpty ? "us-east-1" : setting(settings.region, "AWS_REGION")
        let accessKey = setting(settings.accessKey, "AWS_ACCESS_KEY_ID")
        let secretKey = setting(settings.secretKey, "AWS_SECRET_ACCESS_KEY")
        guard !accessKey.isEmpty else {
            throw S3ConfigurationError(key: "storage.s3.accessKey", message: "no access key: set it or AWS_ACCESS_KEY_ID")
        }
        guard !secretKey.isEmpty else {
            throw S3ConfigurationError(key: "storage.s3.secretKey", message: "no secret key: set it or AWS_SECRET_ACCESS_KEY")
        }
        let url = settings.endpoint.isEmpty ? "https://s3.\(region).amazonaws.com" : settings.endpoint
        let endpoint = S3Endpoint(url: url, region: region, bucket: settings.bucket, pathStyle: settings.pathStyle)
        var storageLogger = logger
        storageLogger[metadataKey: "storage"] = "s3"
        let client = try S3Client(endpoint: endpoint, credentials: S3Credentials(accessKey: accessKey, secretKey: secretKey), logger: storageLogger)
        return S3BlobStorage(client: client, prefix: settings.prefix, redirectDownloads: settings.redirectDownloads)
    }
}
