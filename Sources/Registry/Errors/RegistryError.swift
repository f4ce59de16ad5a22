import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SlipwayCore

/// The OCI distribution error codes, each with its HTTP status. `RegistryError` values are thrown
/// by domain code and rendered in exactly one place (`RegistryError.response`) as
/// `{"errors":[{code,message,detail}]}`.
public enum OCIErrorCode: String, Sendable {
    case blobUnknown = "BLOB_UNKNOWN"
    case blobUploadInvalid = "BLOB_UPLOAD_INVALID"
    case blobUploadUnknown = "BLOB_UPLOAD_UNKNOWN"
    case digestInvalid = "DIGEST_INVALID"
    case manifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
    case manifestInvalid = "MANIFEST_INVALID"
    case manifestUnknown = "MANIFEST_UNKNOWN"
    case nameInvalid = "NAME_INVALID"
    case nameUnknown = "NAME_UNKNOWN"
    case sizeInvalid = "SIZE_INVALID"
    case tagInvalid = "TAG_INVALID"
    case unauthorized = "UNAUTHORIZED"
    case denied = "DENIED"
    case unsupported = "UNSUPPORTED"
    case tooManyRequests = "TOOMANYREQUESTS"
    case rangeInvalid = "RANGE_INVALID"
    case invalidRequest = "INVALID_REQUEST"
    /// distribution's `errcode.ErrorCodeUnavailable`: retry later.
    case unavailable = "UNAVAILABLE"
    case unknown = "UNKNOWN"

    var defaultStatus: HTTPResponse.Status {
        switch self {
        case .blobUnknown, .blobUploadUnknown, .manifestUnknown, .nameUnknown: return .notFound
        case .unauthorized: return .unauthorized
        case .denied: return .forbidden
        case .unsupported: return .methodNotAllowed
        case .tooManyRequests: return .tooManyRequests
        case .rangeInvalid: return .rangeNotSatisfiable
        case .unknown: return .internalServerError
        case .unavailable: return .serviceUnavailable
        default: return .badRequest
        }
    }
}

public struct RegistryError: Error, Sendable, CustomStringConvertible {
    public var code: OCIErrorCode
    public var message: String
    public var status: HTTPResponse.Status
    public var detail: [String: String]
    /// Extra response headers (`WWW-Authenticate`, `Range`, ...).
    public var headers: HTTPFields

    public init(_ code: OCIErrorCode, _ message: String, status: HTTPResponse.Status? = nil,
                detail: [String: String] = [:], headers: HTTPFields = [:]) {
        self.code = code
        self.message = message
        self.status = status ?? code.defaultStatus
        self.detail = detail
        self.headers = headers
    }

    public var description: String { "\(code.rawValue): \(message)" }

    static func nameInvalid(_ why: String) -> RegistryError { .init(.nameInvalid, "invalid repository name: \(why)") }
    static func digestInvalid(_ why: String) -> RegistryError { .init(.digestInvalid, why) }
    static let readOnly = RegistryError(
        .denied, "the registry is in read-only mode for maintenance; pulls work, pushes and deletes are refused",
        status: .methodNotAllowed, detail: ["is_readonly": "true"])

    /// The one mapping of storage driver failures to the wire.
    public init(storage error: BlobStorageError) {
        switch error {
        case .unknownUpload:
            self.init(.blobUploadUnknown, "unknown upload")
        case .unavailable:
            // The detail (which backend, which failure) goes to the log, not to the client.
            self.init(.unavailable, "blob storage is unavailable; nothing was stored, retry later", headers: [.retryAfter: "5"])
        }
    }

    private struct Body: Encodable {
        struct Entry: Encodable { let code: String; let message: String; let detail: [String: String] }
        let errors: [Entry]
    }

    /// Renders the error for the wire. HEAD responses get the same status and headers, no body.
    public func response(isHead: Bool = false) -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.dockerDistributionAPIVersion] = "registry/2.0"
        if isHead {
            return Response(status: status, headers: fields, body: .init())
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = (try? encoder.encode(Body(errors: [.init(code: code.rawValue, message: message, detail: detail)]))) ?? Data()
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension HTTPField.Name {
    // Registry headers, public so tests and clients in this package share one spelling.
    public static let dockerDistributionAPIVersion = Self("Docker-Distribution-API-Version")!
    public static let dockerContentDigest = Self("Docker-Content-Digest")!
    public static let dockerUploadUUID = Self("Docker-Upload-UUID")!
    public static let ociSubject = Self("OCI-Subject")!
    public static let ociFiltersApplied = Self("OCI-Filters-Applied")!
    public static let requestID = Self("X-Request-ID")!
    public static let range = Self("Range")!
    public static let link = Self("Link")!
    public static let contentRange = Self("Content-Range")!
    public static let acceptRanges = Self("Accept-Ranges")!
}
