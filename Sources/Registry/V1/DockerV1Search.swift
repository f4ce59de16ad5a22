import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Docker's v1 search, which `docker search HOST/term` (Docker ≤ 20.10 and podman) still uses:
/// `GET /v1/_ping` and `GET /v1/search?q=&n=&page=`, over the repositories the caller may read
/// (anonymous: public ones; Basic credentials as on `/v2/auth`).
struct DockerV1Search: Sendable {
    let services: RegistryServices

    static let defaultPageSize = 25
    static let maxPageSize = 100
    /// Most matches counted for `num_results`; a search is a lookup, not a listing.
    static let maxResults = 1000

    func register(on router: Router<SlipwayRequestContext>) {
        router.get("/v1/_ping") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json", .init("X-Docker-Registry-Standalone")!: "0"],
                     body: .init(byteBuffer: ByteBuffer(string: "true")))
        }
        router.get("/v1/search") { request, _ in await search(request) }
    }

    struct Result: Encodable {
        let name: String
        let description: String
        let is_public: Bool
        let is_trusted = false
        let is_official = false
        let star_count = 0
    }

    struct Body: Encodable {
        let num_results: Int
        let query: String
        let results: [Result]
        let page: Int
        let num_pages: Int
        let page_size: Int
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: .init(byteBuffer: V2Handler.encodeJSON(["error": message])))
    }

    func search(_ request: Request) async -> Response {
        let query = request.uri.queryParameters
        let q = query["q"].map(String.init) ?? ""
        guard q.count <= 255 else { return Self.error(.badRequest, "q is limited to 255 characters") }
        let pageSize: Int
        if let n = query["n"] {
            guard let value = Int(n), value >= 1, value <= Self.maxPageSize else {
                return Self.error(.badRequest, "n must be a number from 1 to \(Self.maxPageSize)")
            }
            pageSize = value
        } else {
            pageSize = Self.defaultPageSize
        }
        let page: Int
        if let p = query["page"] {
            guard let value = Int(p), value >= 1, value <= 1000 else { return Self.error(.badRequest, "page must be a number from 1 to 1000") }
            page = value
        } else {
            page = 1
        }
        do {
            let origin = RequestOrigin(request: request, config: services.config)
            let viewer: Int64?
            switch try await V2Handler(services: services).identityFromBasic(request, origin: origin) {
            case .user(let user), .robot(let user), .oauth(let user, _): viewer = user.id
            default: viewer = nil
            }
            if viewer == nil && !services.config.registry.anonymousAccess {
                return Self.error(.unauthorized, "authentication required",
                                  headers: [.wwwAuthenticate: "Basic realm=\"\(origin.baseURL)/v2/auth\""])
            }
            var hits: [RepositorySearchHit] = []
            if !q.isEmpty {
                hits = try await services.accounts.searchRepositories(userID: viewer, query: q, offset: 0, limit: Self.maxResults)
            }
            let start = (page - 1) * pageSize
            let pageHits = start < hits.count ? Array(hits[start..<min(start + pageSize, hits.count)]) : []
            let body = Body(num_results: hits.count, query: q,
                            results: pageHits.map { Result(name: $0.repository.path.description, description: $0.description, is_public: $0.repository.isPublic) },
                            page: page, num_pages: max(1, (hits.count + pageSize - 1) / pageSize), page_size: pageSize)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: V2Handler.encodeJSON(body)))
        } catch let error as RegistryError {
            return Self.error(error.status, error.message, headers: error.headers)
        } catch {
            services.logger.error("v1 search failed", metadata: ["error": "\(String(reflecting: error))"])
            return Self.error(.internalServerError, "internal server error")
        }
    }
}
