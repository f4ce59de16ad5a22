/// A failure of domain or storage code: a stable code and a message a user may read. Domain
/// code throws these, never a wire error; each surface (`/v2`, `/api/v1`, webhooks, the worker
/// protocol, pages) maps them to its wire format in one place (for `/api/v1`,
/// `APIError.init(_: DomainError)`).
public struct DomainError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// The request is malformed or breaks a rule (a bad name, an invalid configuration).
        case invalidInput
        /// What the request names does not exist (or is not visible to the caller).
        case notFound
        /// Creating something whose name is taken.
        case alreadyExists
        /// The current state does not allow it (already done, already uploaded).
        case conflict
        /// Our fault: a broken invariant or missing data. Surfaces answer with a generic
        /// message and log this one.
        case internalFailure
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public static func invalidInput(_ message: String) -> DomainError { .init(.invalidInput, message) }
    public static func notFound(_ message: String) -> DomainError { .init(.notFound, message) }
    public static func alreadyExists(_ message: String) -> DomainError { .init(.alreadyExists, message) }
    public static func conflict(_ message: String) -> DomainError { .init(.conflict, message) }
    public static func internalFailure(_ message: String) -> DomainError { .init(.internalFailure, message) }

    public var description: String { "\(code.rawValue): \(message)" }
}
