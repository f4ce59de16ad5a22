import SlipwayCore

/// The queue entry that sends one notification delivery (queue `notification-delivery`). The
/// `notification_deliveries` row stays the record the API and diagnostics read (status,
/// attempts, last error, next attempt); the job only says when to send it. Its ordering key is
/// the notification, so one notification's deliveries go out one at a time, in order; its
/// reference is the delivery's uuid. Notifications#2 wrote the jobs of deliveries that were
/// pending before the move in this same shape.
struct DeliveryJob: Codable, Sendable {
    static let queue = "notification-delivery"

    let delivery: Int64

    static func request(deliveryID: Int64, uuid: String, notificationID: Int64?, maxAttempts: Int) throws -> JobRequest {
        try JobRequest(queue: queue, encoding: DeliveryJob(delivery: deliveryID), orderingKey: notificationID.map { String($0) },
                       reference: uuid, maxAttempts: maxAttempts)
    }
}
