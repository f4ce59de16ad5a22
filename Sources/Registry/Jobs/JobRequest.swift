import Foundation

/// A job to push onto a queue.
public struct JobRequest: Sendable {
    public var queue: String
    /// JSON for the queue's handler.
    public var payload: String
    /// Jobs sharing a key run one at a time, in the order they were pushed.
    public var orderingKey: String?
    /// What the job is about (a mail's invitation, an export's id), so it can be cancelled.
    public var reference: String?
    /// Claims allowed before the job is dead-lettered (at least 1).
    public var maxAttempts: Int
    /// Epoch milliseconds before which the job is not claimed; nil = now.
    public var notBefore: Int64?

    public init(queue: String, payload: String, orderingKey: String? = nil, reference: String? = nil,
                maxAttempts: Int = 5, notBefore: Int64? = nil) {
        self.queue = queue
        self.payload = payload
        self.orderingKey = orderingKey
        self.reference = reference
        self.maxAttempts = max(1, maxAttempts)
        self.notBefore = notBefore
    }

    /// A job whose payload is `value` encoded as JSON.
    public init<Payload: Encodable>(queue: String, encoding value: Payload, orderingKey: String? = nil, reference: String? = nil,
                                    maxAttempts: Int = 5, notBefore: Int64? = nil) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        self.init(queue: queue, payload: String(decoding: try encoder.encode(value), as: UTF8.self), orderingKey: orderingKey,
                  reference: reference, maxAttempts: maxAttempts, notBefore: notBefore)
    }
}
