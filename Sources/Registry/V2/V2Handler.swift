import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SlipwayCore

/// Serves the OCI distribution API under `/v2`. Parses the path into a `V2Route`, authorizes,
/// dispatches to the per-resource handlers (`V2Handler+Blobs`, `+Uploads`, `+Manifests`,
/// `+Listings`, `+Token`) and renders every failure as an OCI error in one place.
public struct V2Handler: Sendable {
    let services: RegistryServices
    let authorizer: V2Authorizer
    /// Feature modules told, in the storing transaction, about each manifest stored (the scanner).
    let manifestObservers: [any ManifestStoredObserver]

    public init(services: RegistryServices, manifestObservers: [any ManifestStoredObserver] = []) {
        self.services = services
        self.authorizer = V2Authorizer(services: services)
        self.manifestObservers = manifestObservers
    }

    public func handle(_ request: Request, context: some RequestContext) async -> Response {
        let isHead = request.method == .head
        do {
            var response = try await dispatch(request, context: context)
            response.headers[.dockerDistributionAPIVersion] = "registry/2.0"
            return response
        } catch let error as RegistryError {
            return error.response(isHead: isHead)
        } catch let error as BlobStorageError {
            if case .unavailable(let detail) = error {
                context.logger.error("blob storage unavailable", metadata: ["error": "\(detail)", "path": "\(request.uri.path)"])
            }
            return RegistryError(storage: error).response(isHead: isHead)
        } catch {
            context.logger.error("registry request failed", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            return RegistryError(.unknownError, "internal server error", status: .internalServerError).response(isHead: isHead)
        }
    }

    /// The route of `path`. A reference that cannot be a tag names no manifest: reading it is
    /// a 404 (the OCI conformance suite's INVALID_MANIFEST_NAME case); pushing it stays a 400.
    static func route(_ path: String, method: HTTPRequest.Method) throws(RegistryError) -> V2Route {
        let parsed: V2Route?
        do {
            parsed = try V2Route.parse(rawPath: path)
        } catch {
            guard error.code == .tagInvalid, method == .get || method == .head else { throw error }
            throw RegistryError(.manifestUnknown, error.message, status: .notFound)
        }
        guard let parsed else {
            throw RegistryError(.unsupported, "no registry route matches \(path.prefix(200))", status: .notFound)
        }
        return parsed
    }

    private func dispatch(_ request: Request, context: some RequestContext) async throws -> Response {
        let method = request.method
        let route = try Self.route(request.uri.path, method: method)
        let origin = RequestOrigin(request: request, config: services.config)
        if case .token = route {
            guard method == .get else { throw methodNotAllowed(method) }
            return try await token(request, origin: origin, context: context)
        }
        let caller = try await authorizer.authenticate(request, origin: origin, ip: (context as? SlipwayRequestContext)?.clientIP(request))
        // Maintenance mode refuses every write before anything (even an implicit repository
        // creation) can happen.
        if services.config.registry.readOnly && ![.get, .head].contains(method) && route.repositoryPath != nil {
            throw RegistryError.readOnly
        }
        switch route {
        case .base:
            guard method == .get || method == .head else { throw methodNotAllowed(method) }
            if caller.isAnonymous { throw authorizer.unauthorized(origin, scope: nil, "authentication required") }
            return jsonResponse(ByteBuffer(string: "{}"), isHead: method == .head)
        case .catalog:
            guard method == .get else { throw methodNotAllowed(method) }
            return try await catalog(request, caller: caller)
        case .token:
            throw methodNotAllowed(method)
        case .tagsList(let name, let path):
            guard method == .get else { throw methodNotAllowed(method) }
            let repo = try await authorizer.repository(for: .pull, name: name, path: path, caller: caller, origin: origin)
            return try await tagsList(request, name: name, repo: repo)
        case .referrers(let name, let path, let digest):
            guard method == .get else { throw methodNotAllowed(method) }
            let repo = try await authorizer.repository(for: .pull, name: name, path: path, caller: caller, origin: origin)
            return try await referrers(request, repo: repo, subject: digest)
        case .manifest(let name, let path, let reference):
            switch method {
            case .get, .head:
                let repo = try await authorizer.repository(for: .pull, name: name, path: path, caller: caller, origin: origin)
                return try await getManifest(request, repo: repo, reference: reference, caller: caller,
                                                 ip: (context as? SlipwayRequestContext)?.clientIP(request))
            case .put:
                let repo = try await authorizer.repository(for: .push, name: name, path: path, caller: caller, origin: origin)
                try authorizer.requireWritable(repo)
                return try await putManifest(request, name: name, repo: repo, reference: reference, caller: caller,
                                                 ip: (context as? SlipwayRequestContext)?.clientIP(request))
            case .delete:
                let repo = try await authorizer.repository(for: .delete, name: name, path: path, caller: caller, origin: origin)
                try authorizer.requireWritable(repo)
                return try await deleteManifest(repo: repo, reference: reference, caller: caller)
            default:
                throw methodNotAllowed(method)
            }
        case .blob(let name, let path, let digest):
            switch method {
            case .get, .head:
                let repo = try await authorizer.repository(for: .pull, name: name, path: path, caller: caller, origin: origin)
                return try await getBlob(request, repo: repo, digest: digest, connection: (context as? SlipwayRequestContext)?.channel)
            case .delete:
                let repo = try await authorizer.repository(for: .delete, name: name, path: path, caller: caller, origin: origin)
                try authorizer.requireWritable(repo)
                return try await deleteBlob(repo: repo, digest: digest)
            default:
                throw methodNotAllowed(method)
            }
        case .uploadStart(let name, let path):
            guard method == .post else { throw methodNotAllowed(method) }
            let repo = try await authorizer.repository(for: .push, name: name, path: path, caller: caller, origin: origin)
            try authorizer.requireWritable(repo)
            return try await startUpload(request, name: name, repo: repo, caller: caller, origin: origin)
        case .upload(let name, let path, let id):
            let repo = try await authorizer.repository(for: .push, name: name, path: path, caller: caller, origin: origin)
            switch method {
            case .get:
                return try await uploadStatus(name: name, repo: repo, id: id, origin: origin)
            case .patch:
                try authorizer.requireWritable(repo)
                return try await patchUpload(request, name: name, repo: repo, id: id, origin: origin)
            case .put:
                try authorizer.requireWritable(repo)
                return try await finishUpload(request, name: name, repo: repo, id: id, origin: origin)
            case .delete:
                return try await cancelUpload(repo: repo, id: id)
            default:
                throw methodNotAllowed(method)
            }
        }
    }

    func methodNotAllowed(_ method: HTTPRequest.Method) -> RegistryError {
        RegistryError(.unsupported, "method \(method.rawValue) is not supported on this registry route", status: .methodNotAllowed)
    }

    func jsonResponse(_ body: ByteBuffer, status: HTTPResponse.Status = .ok, contentType: String = "application/json; charset=utf-8",
                      headers extra: HTTPFields = [:], isHead: Bool = false) -> Response {
        var headers = extra
        headers[.contentType] = contentType
        headers[.contentLength] = String(body.readableBytes)
        return Response(status: status, headers: headers, body: isHead ? .init() : .init(byteBuffer: body))
    }

    static func encodeJSON(_ value: some Encodable) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ByteBuffer(bytes: (try? encoder.encode(value)) ?? Data("{}".utf8))
    }
}

extension OCIErrorCode {
    static let unknownError = OCIErrorCode.unknown
}
