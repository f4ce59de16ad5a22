import Foundation
import Registry
import SlipwayCore

/// A notification configured on a repository (`repository_notifications`, migration 40).
public struct RepositoryNotification: Sendable, Equatable {
    public let id: Int64
    public let uuid: String
    public let repositoryID: Int64
    public let title: String?
    public let event: String
    public let method: String
    /// The client's method config, without a webhook `secret`.
    public let config: [String: EventValue]
    public let eventConfig: [String: EventValue]
    public let secretSealed: String?
    public let numberOfFailures: Int
    public let lastError: String?
    public let createdAt: Int64

    public var methodKind: NotificationCatalog.Method? { NotificationCatalog.Method(rawValue: method) }
}

/// What `POST …/notification/` stores.
public struct NewRepositoryNotification: Sendable {
    public var repositoryID: Int64
    public var title: String?
    public var event: String
    public var method: String
    public var config: [String: EventValue]
    public var eventConfig: [String: EventValue]
    public var secretSealed: String?
    public var expiryDays: Int64?
}
