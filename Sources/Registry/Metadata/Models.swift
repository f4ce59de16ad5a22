import SlipwayCore
/// OCI records read from the metadata store. Plain values: no behaviour beyond small helpers.

public struct StoredManifest: Sendable {
    public let id: Int64
    public let digest: Digest
    public let mediaType: String
    public let artifactType: String?
    public let annotations: [String: String]?
    public let content: String
    public var size: Int64 { Int64(content.utf8.count) }
}

public struct UploadRecord: Sendable {
    public let id: String
    public let repositoryID: Int64
    public let size: Int64
}
