import Foundation

/// An export to queue (`AuditStore.createLogExport`).
public struct NewLogExport: Sendable {
    public var uuid: String
    public var requesterID: Int64
    public var scope: UsageLogScope
    public var namespaceName: String
    public var repositoryName: String?
    public var start: Int64
    public var end: Int64
    public var callbackURL: String?
    public var callbackEmail: String?
    public var origin: String

    public init(uuid: String = UUID().uuidString.lowercased(), requesterID: Int64, scope: UsageLogScope, namespaceName: String,
                repositoryName: String?, start: Int64, end: Int64, callbackURL: String?, callbackEmail: String?, origin: String) {
        self.uuid = uuid
        self.requesterID = requesterID
        self.scope = scope
        self.namespaceName = namespaceName
        self.repositoryName = repositoryName
        self.start = start
        self.end = end
        self.callbackURL = callbackURL
        self.callbackEmail = callbackEmail
        self.origin = origin
    }
}
