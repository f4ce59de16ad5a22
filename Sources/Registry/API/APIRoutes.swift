import Accounts
import Audit
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SlipwayCore

/// What a handler gets: the request, the caller (nil = anonymous) and whatever the route's
/// requirement resolved.
public struct APIRequest: Sendable {
    public let request: Request
    public let context: SlipwayRequestContext
    public let caller: APICaller?
    /// Path parameters by name (`{robot_shortname}` → `robot_shortname`); `repository` holds the full `namespace/name`.
    public let parameters: [String: String]
    /// The repository of a `.repository` route.
    public let repository: Repository?
    /// The caller's role on `repository` (nil for anonymous readers of public repositories).
    public let role: Role?
    /// The organization of an `.organization*` route.
    public let organization: Namespace?
    public let origin: String

    public func parameter(_ name: String) -> String { parameters[name] ?? "" }

    /// The client address for usage logs.
    public var ip: String? { context.clientIP(request) }

    /// The performer recorded in usage logs.
    public var actor: AuditEvent.Actor? {
        caller.map { AuditEvent.Actor(id: $0.user.id, name: $0.user.name, kind: $0.user.kind == .user ? "user" : $0.user.kind.rawValue) }
    }

    /// The signed-in user; only nil on `.anonymous` routes.
    public var user: Namespace {
        get throws(APIError) {
            guard let caller else { throw APIError.invalidToken }
            return caller.user
        }
    }

    /// Decodes a JSON body (capped at 1 MiB) or fails with a Quay `invalid_request`.
    public func decode<T: Decodable>(_ type: T.Type) async throws -> T {
        var request = self.request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: 1 << 20)
        } catch {
            throw APIError.invalidRequest("the request body is too large")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
        } catch {
            throw APIError.invalidRequest(APIError.describe(decoding: error))
        }
    }
}

public typealias APIHandler = @Sendable (APIRequest) async throws -> Response

/// One registered `/api/v1` route.
public struct APIRouteInfo: Sendable, Hashable, CustomStringConvertible {
    public let method: HTTPRequest.Method
    /// Quay-style template, e.g. `/api/v1/repository/{repository}/tag/{tag}`.
    public let path: String
    public let requirement: APIRequirement
    /// What a `.repository` route answers when its repository does not exist.
    public let absentRepository: AbsentRepository

    public var description: String { "\(method.rawValue) \(path) [\(requirement)]" }

    public static func == (a: Self, b: Self) -> Bool { a.method == b.method && a.path == b.path }
    public func hash(into h: inout Hasher) { h.combine(method.rawValue); h.combine(path) }
}

/// What a `.repository` route answers when the repository in its path does not exist.
public enum AbsentRepository: Sendable {
    /// 404 `repository not found` (401 to anonymous callers of private-looking paths).
    case notFound
    /// Deleting what is not there succeeds: Quay answers `204` and `pubtools-quay`'s
    /// `delete_repository` relies on it. Only for a caller who could have deleted the repository
    /// had it existed (admin of its namespace, with `repo:admin`); anyone else gets what a
    /// private repository they cannot see would give (401 anonymous, 404 signed in), so the
    /// answer reveals nothing.
    case deletedForNamespaceAdmins
}

/// The `/api/v1` router. Routes under `/api/v1/repository/{repository}` are matched from the
/// right, because repository names contain slashes and may be called `tag`, `build` or `logs`;
/// the other routes go through Hummingbird's router.
public final class APIRoutes: @unchecked Sendable {
    // Mutated only while the application is being built, before any request is served.
    let services: RegistryServices
    let authenticator: APIAuthenticator
    private(set) public var registered: [APIRouteInfo] = []
    private var repositoryRoutes: [(info: APIRouteInfo, suffix: [String], handler: APIHandler)] = []
    private var plainRoutes: [(info: APIRouteInfo, handler: APIHandler)] = []

    static let repositoryPrefix = "/api/v1/repository/{repository}"

    public init(services: RegistryServices) {
        self.services = services
        self.authenticator = APIAuthenticator(services: services)
    }

    public func add(_ method: HTTPRequest.Method, _ path: String, _ requirement: APIRequirement,
                    absentRepository: AbsentRepository = .notFound, _ handler: @escaping APIHandler) {
        let info = APIRouteInfo(method: method, path: path, requirement: requirement, absentRepository: absentRepository)
        precondition(!registered.contains(info), "duplicate API route \(info)")
        registered.append(info)
        if path.hasPrefix(Self.repositoryPrefix) {
            let suffix = String(path.dropFirst(Self.repositoryPrefix.count))
            repositoryRoutes.append((info, suffix.split(separator: "/", omittingEmptySubsequences: false).map(String.init), handler))
        } else {
            plainRoutes.append((info, handler))
        }
    }

    /// Installs every route on the Hummingbird router.
    public func install(on router: Router<SlipwayRequestContext>) {
        for (info, handler) in plainRoutes {
            let hbPath = info.path.replacingOccurrences(of: "{", with: ":").replacingOccurrences(of: "}", with: "")
            let names = Self.parameterNames(info.path)
            router.on(RouterPath(hbPath), method: info.method) { request, context in
                var params: [String: String] = [:]
                for name in names { if let v = context.parameters.get(name) { params[name] = String(v) } }
                return await self.serve(request, context, info: info, parameters: params, handler: handler)
            }
        }
        let methods = Set(repositoryRoutes.map(\.info.method.rawValue))
        for m in methods {
            let method = HTTPRequest.Method(rawValue: m)!
            router.on("/api/v1/repository/**", method: method) { request, context in
                await self.serveRepositoryRoute(request, context, method: method)
            }
        }
    }

    static func parameterNames(_ path: String) -> [String] {
        path.split(separator: "/").compactMap { seg in
            seg.hasPrefix("{") && seg.hasSuffix("}") ? String(seg.dropFirst().dropLast()) : nil
        }
    }

    /// Matches `/api/v1/repository/<ns>/<name...><suffix>` against every repository route.
    /// When several splits fit (a repository called `x/tag`), the one naming an existing
    /// repository wins.
    private func serveRepositoryRoute(_ request: Request, _ context: SlipwayRequestContext, method: HTTPRequest.Method) async -> Response {
        let raw = request.uri.path.dropFirst("/api/v1/repository/".count)
        let segments = (raw.removingPercentEncoding ?? String(raw)).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var candidates: [(APIRouteInfo, APIHandler, [String: String])] = []
        for (info, suffix, handler) in repositoryRoutes where info.method == method {
            let nameCount = segments.count - (suffix.count - 1)  // suffix starts with "" (leading slash) when non-empty
            let suffixParts = suffix.count > 1 ? Array(suffix.dropFirst()) : []
            guard nameCount >= 2 else { continue }
            let tail = Array(segments.suffix(suffixParts.count))
            var params: [String: String] = [:]
            var ok = tail.count == suffixParts.count
            for (pattern, value) in zip(suffixParts, tail) where ok {
                if pattern.hasPrefix("{") && pattern.hasSuffix("}") {
                    if value.isEmpty { ok = false } else { params[String(pattern.dropFirst().dropLast())] = value }
                } else if pattern != value {
                    ok = false
                }
            }
            guard ok else { continue }
            params["repository"] = segments.prefix(segments.count - suffixParts.count).joined(separator: "/")
            candidates.append((info, handler, params))
        }
        let origin = RequestOrigin(request: request, config: services.config).baseURL
        guard !candidates.isEmpty else {
            return APIError.notFound("no API route matches \(request.method.rawValue) \(request.uri.path.prefix(200))").response(baseURL: origin)
        }
        var chosen = candidates[0]
        if candidates.count > 1 {
            for c in candidates {
                if let path = try? RepositoryPath(parsing: c.2["repository"] ?? ""), (try? await services.accounts.repository(path)) != nil {
                    chosen = c
                    break
                }
            }
        }
        if let unknown = await unknownSubroute(of: chosen.2["repository"] ?? "") {
            return APIError.notFound("unknown API route: \(request.method.rawValue) \(request.uri.path.prefix(200)) (repository \(unknown) has no such sub-resource)")
                .response(baseURL: origin)
        }
        return await serve(request, context, info: chosen.0, parameters: chosen.2, handler: chosen.1)
    }

    /// `/api/v1/repository/ns/app/nonsense` parses as the repository `ns/app/nonsense`. When that
    /// does not exist but a shorter prefix names a repository, the path is an unknown sub-route
    /// of that repository, and the 404 should say so rather than "repository not found".
    private func unknownSubroute(of name: String) async -> String? {
        guard let path = try? RepositoryPath(parsing: name), (try? await services.accounts.repository(path)) == nil else { return nil }
        var parts = name.split(separator: "/").map(String.init)
        while parts.count > 2 {
            parts.removeLast()
            let prefix = parts.joined(separator: "/")
            if let shorter = try? RepositoryPath(parsing: prefix), (try? await services.accounts.repository(shorter)) != nil { return prefix }
        }
        return nil
    }

    private func serve(_ request: Request, _ context: SlipwayRequestContext, info: APIRouteInfo, parameters: [String: String],
                       handler: APIHandler) async -> Response {
        let origin = RequestOrigin(request: request, config: services.config).baseURL
        do {
            let caller = try await authenticator.caller(request)
            let resolved = try await authorize(info, caller: caller, parameters: parameters, request: request)
            if resolved.absentAndDeletable { return APIResponse.noContent() }
            let apiRequest = APIRequest(request: request, context: context, caller: caller, parameters: parameters,
                                        repository: resolved.repository, role: resolved.role, organization: resolved.organization, origin: origin)
            let response = try await handler(apiRequest)
            if response.status.code < 300, let kind = APIAuditKinds.table["\(info.method.rawValue) \(info.path)"] {
                recordAudit(kind, apiRequest)
            }
            return response
        } catch let error as APIError {
            return error.response(baseURL: origin)
        } catch let error as DomainError {
            if error.code == .internalFailure {
                context.logger.error("api request failed", metadata: ["error": "\(error)", "route": "\(info.path)"])
            }
            return APIError(error).response(baseURL: origin)
        } catch {
            context.logger.error("api request failed", metadata: ["error": "\(String(reflecting: error))", "route": "\(info.path)"])
            return APIError.internalError.response(baseURL: origin)
        }
    }

    /// Records a usage-log entry for a successful write (see `APIAuditKinds`).
    private func recordAudit(_ kind: AuditKind, _ r: APIRequest) {
        var metadata: [String: String] = [:]
        for (key, value) in r.parameters where key != "repository" && !APIAuditKinds.secretParameters.contains(key) {
            metadata[key] = value
        }
        if let repo = r.repository {
            services.auditLog.record(.repository(kind, repo, performer: r.actor, ip: r.ip, metadata))
            return
        }
        let namespace: (id: Int64, name: String)? = r.organization.map { ($0.id, $0.name) } ?? r.caller.map { ($0.user.id, $0.user.name) }
        services.auditLog.record(AuditEvent(kind: kind, performer: r.actor, namespace: namespace, ip: r.ip, metadata: metadata))
    }

    struct Resolved {
        var repository: Repository?
        var role: Role?
        var organization: Namespace?
        /// The repository does not exist and the caller may delete it (`AbsentRepository`).
        var absentAndDeletable = false
    }

    private func authorize(_ info: APIRouteInfo, caller: APICaller?, parameters: [String: String], request: Request) async throws -> Resolved {
        let requirement = info.requirement
        // Cookie sessions must present the CSRF token on writes.
        if let caller, caller.viaSession, ![.get, .head, .options].contains(request.method) {
            guard let csrf = request.headers[.init("X-CSRF-Token")!], let expected = caller.csrfToken, ConstantTime.equal(csrf, expected) else {
                throw APIError(.forbidden, "csrf_invalid", "Missing or invalid CSRF token")
            }
        }
        switch requirement {
        case .anonymous:
            return Resolved()
        case .user(let scope):
            guard let caller else { throw APIError.invalidToken }
            try caller.require(scope)
            return Resolved()
        case .repository(let needed):
            let name = parameters["repository"] ?? ""
            guard let path = try? RepositoryPath(parsing: name), let repo = try await services.accounts.repository(path),
                  repo.state != .markedForDeletion else {
                if info.absentRepository == .deletedForNamespaceAdmins, let path = try? RepositoryPath(parsing: name) {
                    guard let caller else { throw APIError.invalidToken }
                    guard try await administers(caller, namespace: path.namespace) else { throw APIError.notFound("repository not found") }
                    try caller.require(requirementScope(.admin))
                    return Resolved(absentAndDeletable: true)
                }
                throw APIError.notFound("repository not found")
            }
            var role: Role?
            // The caller's own role; its token's scopes are checked below, each with its own error.
            if let caller { role = try await services.policy.role(.user(caller.user), on: repo) }
            let canSee = role != nil || repo.isPublic
            guard canSee else {
                // Private repositories the caller cannot read do not exist for them.
                if caller == nil { throw APIError.invalidToken }
                throw APIError.notFound("repository not found")
            }
            if needed == .read {
                if let caller { try caller.require("repo:read") }
                return Resolved(repository: repo, role: role)
            }
            guard let caller else { throw APIError.invalidToken }
            try caller.require(requirementScope(needed))
            guard let role, role >= needed else { throw APIError.insufficientScope("Unauthorized: requires \(needed.rawValue) permission on the repository") }
            return Resolved(repository: repo, role: role)
        case .superuser:
            guard let caller else { throw APIError.invalidToken }
            try caller.require("user:admin")
            guard caller.user.isSuperuser else { throw APIError.insufficientScope("Unauthorized: requires superuser") }
            return Resolved()
        case .organizationAdmin, .organizationMember:
            guard let caller else { throw APIError.invalidToken }
            let name = parameters["orgname"] ?? ""
            guard let org = try await services.accounts.namespace(named: name), org.kind == .organization else {
                throw APIError.notFound("organization not found")
            }
            try caller.require(requirement.scope!)
            let teamRole = try await services.policy.organizationRole(.user(caller.user), organizationID: org.id)
            if requirement == .organizationAdmin && teamRole != .admin {
                throw APIError.insufficientScope("Unauthorized: requires organization admin")
            }
            if requirement == .organizationMember && teamRole == nil {
                throw APIError.insufficientScope("Unauthorized: requires organization membership")
            }
            return Resolved(organization: org)
        }
    }

    /// Whether `caller` administers `namespace`: it is their own, or they are in an admin team of
    /// the organization.
    private func administers(_ caller: APICaller, namespace: String) async throws -> Bool {
        guard let ns = try await services.accounts.namespace(named: namespace) else { return false }
        switch ns.kind {
        case .user: return ns.id == caller.user.id
        case .organization: return try await services.policy.organizationRole(.user(caller.user), organizationID: ns.id) == .admin
        case .robot: return false
        }
    }

    private func requirementScope(_ role: Role) -> String {
        switch role {
        case .read: return "repo:read"
        case .write: return "repo:write"
        case .admin: return "repo:admin"
        }
    }
}

extension APIError {
    static func describe(decoding error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "'\(key.stringValue)' is a required property"
        case DecodingError.typeMismatch(let type, let ctx):
            return "'\(ctx.codingPath.map(\.stringValue).joined(separator: "."))' must be of type \(type)"
        case DecodingError.valueNotFound(_, let ctx): return "'\(ctx.codingPath.map(\.stringValue).joined(separator: "."))' must not be null"
        case DecodingError.dataCorrupted(let ctx):
            if let underlying = ctx.underlyingError as? APIError { return underlying.detail }
            return ctx.codingPath.isEmpty ? "the request body is not valid JSON" : "invalid value at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))'"
        case let e as APIError: return e.detail
        default: return "the request body is not valid JSON"
        }
    }
}

/// JSON responses for API handlers.
public enum APIResponse {
    public static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: .init(byteBuffer: V2Handler.encodeJSON(value)))
    }

    /// Quay answers some writes with a bare JSON string such as `"Created"` or `"Updated"`.
    public static func message(_ text: String, status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "\"\(text)\"")))
    }

    public static func noContent() -> Response { Response(status: .noContent) }
}
