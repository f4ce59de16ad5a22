/// A stored usage-log entry, as queries return it.
public struct UsageLogEntry: Sendable {
    public let id: Int64
    public let kind: String
    public let performerName: String?
    public let performerKind: String?
    public let namespaceName: String?
    public let repositoryName: String?
    public let ip: String?
    public let metadata: [String: String]
    public let createdAt: Int64

    public init(id: Int64, kind: String, performerName: String?, performerKind: String?, namespaceName: String?, repositoryName: String?,
                ip: String?, metadata: [String: String], createdAt: Int64) {
        self.id = id
        self.kind = kind
        self.performerName = performerName
        self.performerKind = performerKind
        self.namespaceName = namespaceName
        self.repositoryName = repositoryName
        self.ip = ip
        self.metadata = metadata
        self.createdAt = createdAt
    }
}
