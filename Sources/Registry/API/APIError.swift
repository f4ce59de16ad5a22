import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SlipwayCore

/// Quay's `/api/v1` error body (`endpoints/exception.py`), rendered in one place.
public struct APIError: Error, Sendable {
    public let status: HTTPResponse.Status
    public let errorType: String
    public let detail: String

    public init(_ status: HTTPResponse.Status, _ errorType: String, _ detail: String) {
        self.status = status
        self.errorType = errorType
        self.detail = detail
    }

    public static func invalidRequest(_ detail: String) -> APIError { .init(.badRequest, "invalid_request", detail) }
    public static let invalidToken = APIError(.unauthorized, "invalid_token", "Requires authentication")
    public static func insufficientScope(_ detail: String = "Unauthorized") -> APIError { .init(.forbidden, "insufficient_scope", detail) }
    public static func notFound(_ detail: String = "Not Found") -> APIError { .init(.notFound, "not_found", detail) }
    public static let internalError = APIError(.internalServerError, "internal_error", "internal server error")

    /// The one mapping of domain errors onto Quay's API errors. An existing name is a 400, as
    /// Quay answers it; our own failures say nothing about their cause (the caller logs it).
    public init(_ error: DomainError) {
        switch error.code {
        case .invalidInput, .alreadyExists: self = .invalidRequest(error.message)
        case .notFound: self = .notFound(error.message)
        case .conflict: self.init(.conflict, "invalid_request", error.message)
        case .internalFailure: self = .internalError
        }
    }

    struct Body: Encodable {
        let type: String
        let title: String
        let status: Int
        let detail: String
        let error_message: String
        let error_type: String
    }

    public func response(baseURL: String) -> Response {
        let body = Body(type: "\(baseURL)/api/v1/error/\(errorType)", title: errorType, status: Int(status.code),
                        detail: detail, error_message: detail, error_type: errorType)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: V2Handler.encodeJSON(body)))
    }
}
