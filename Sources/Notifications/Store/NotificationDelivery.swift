import Foundation
import SlipwayCore

/// One delivery (`notification_deliveries`): the record of sending one event to one
/// notification. Its `DeliveryJob` in the job queue says when it is (re)tried.
public struct NotificationDelivery: Sendable {
    public enum Status: String, Sendable { case pending, delivered, failed, skipped }
    public let id: Int64
    public let uuid: String
    public let notificationID: Int64?
    public let event: String
    /// The event JSON as stored.
    public let payload: String
    public let isTest: Bool
    public let status: Status
    public let attempts: Int
    public let nextAttemptAt: Int64
    public let lastError: String?

    public var payloadObject: [String: EventValue] {
        (try? JSONDecoder().decode([String: EventValue].self, from: Data(payload.utf8))) ?? [:]
    }
}
