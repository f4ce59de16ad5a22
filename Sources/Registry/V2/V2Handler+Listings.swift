import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SlipwayCore

/// Tag lists, the catalog and the referrers API.
extension V2Handler {
    /// Upper bound on one page; the spec lets a registry return fewer than `n` with a `Link`.
    static let maxPageSize = 10_000

    struct TagList: Encodable { let name: String; let tags: [String] }
    struct Catalog: Encodable { let repositories: [String] }

    func pageSize(_ request: Request) throws(RegistryError) -> Int? {
        guard let text = request.uri.queryParameters["n"] else { return nil }
        guard let n = Int(text), n >= 0 else {
            throw RegistryError(.invalidRequest, "query parameter n must be a non-negative integer")
        }
        return min(n, Self.maxPageSize)
    }

    func tagsList(_ request: Request, name: String, repo: Repository) async throws -> Response {
        let n = try pageSize(request)
        let last = request.uri.queryParameters["last"].map(String.init)
        if n == 0 { return jsonResponse(Self.encodeJSON(TagList(name: repo.path.description, tags: []))) }
        let body = TagListBody(name: name)
        try await services.store.forEachTagName(repositoryID: repo.id, after: last, limit: n) { body.append($0) }
        let list = body.finish()
        var headers = HTTPFields()
        if let n, list.count == n, let lastTag = list.last {
            headers[.link] = "</v2/\(name)/tags/list?n=\(n)&last=\(Self.queryEscape(lastTag))>; rel=\"next\""
        }
        return jsonResponse(list.body, headers: headers)
    }

    func catalog(_ request: Request, caller: V2Caller) async throws -> Response {
        let n = try pageSize(request) ?? 100
        let last = request.uri.queryParameters["last"].map(String.init)
        let repos = n == 0 ? [] : try await services.accounts.visibleRepositories(userID: caller.userID, after: last, limit: n)
        var headers = HTTPFields()
        if n > 0, repos.count == n, let lastRepo = repos.last {
            headers[.link] = "</v2/_catalog?n=\(n)&last=\(Self.queryEscape(lastRepo))>; rel=\"next\""
        }
        return jsonResponse(Self.encodeJSON(Catalog(repositories: repos)), headers: headers)
    }

    struct ReferrersIndex: Encodable {
        let schemaVersion = 2
        let mediaType = MediaTypes.ociIndex
        let manifests: [Descriptor]
    }

    func referrers(_ request: Request, repo: Repository, subject: Digest) async throws -> Response {
        let filter = request.uri.queryParameters["artifactType"].map(String.init)
        let found = try await services.store.referrers(repositoryID: repo.id, subject: subject, artifactType: filter)
        let descriptors = found.map {
            Descriptor(mediaType: $0.mediaType, digest: $0.digest, size: $0.size, artifactType: $0.artifactType, annotations: $0.annotations)
        }
        var headers = HTTPFields()
        if filter != nil { headers[.ociFiltersApplied] = "artifactType" }
        return jsonResponse(Self.encodeJSON(ReferrersIndex(manifests: descriptors)), contentType: MediaTypes.ociIndex, headers: headers)
    }

    static func queryEscape(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }
}
