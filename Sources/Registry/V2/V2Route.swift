import Accounts
import Foundation
import SlipwayCore

/// A parsed `/v2` request path. Repository names contain slashes and may themselves contain
/// `blobs`, `manifests` or `tags`, so paths are matched from the right: the suffix decides the
/// route and everything before it is the name, which is validated once here.
public enum V2Route: Equatable, Sendable {
    case base
    case catalog
    case token
    case tagsList(name: String, path: RepositoryPath)
    case manifest(name: String, path: RepositoryPath, reference: ManifestReference)
    case blob(name: String, path: RepositoryPath, digest: Digest)
    case uploadStart(name: String, path: RepositoryPath)
    case upload(name: String, path: RepositoryPath, id: String)
    case referrers(name: String, path: RepositoryPath, digest: Digest)

    public enum ManifestReference: Equatable, Sendable, CustomStringConvertible {
        case tag(String)
        case digest(Digest)

        public var isTag: Bool {
            if case .tag = self { return true }
            return false
        }

        public var description: String {
            switch self {
            case .tag(let t): return t
            case .digest(let d): return d.description
            }
        }
    }

    /// Low-cardinality label for metrics and logs.
    public var label: String {
        switch self {
        case .base: return "base"
        case .catalog: return "catalog"
        case .token: return "token"
        case .tagsList: return "tags_list"
        case .manifest: return "manifest"
        case .blob: return "blob"
        case .uploadStart: return "upload_start"
        case .upload: return "upload"
        case .referrers: return "referrers"
        }
    }

    /// Every route label, so tests can prove each route has a row in the authorization matrix.
    public static let allLabels = ["base", "catalog", "token", "tags_list", "manifest", "blob", "upload_start", "upload", "referrers"]

    /// The repository name exactly as it appears in the URL (token scopes use this form).
    public var name: String? {
        switch self {
        case .base, .catalog, .token: return nil
        case .tagsList(let n, _), .manifest(let n, _, _), .blob(let n, _, _), .uploadStart(let n, _), .upload(let n, _, _), .referrers(let n, _, _):
            return n
        }
    }

    public var repositoryPath: RepositoryPath? {
        switch self {
        case .base, .catalog, .token: return nil
        case .tagsList(_, let p), .manifest(_, let p, _), .blob(_, let p, _), .uploadStart(_, let p), .upload(_, let p, _), .referrers(_, let p, _):
            return p
        }
    }

    /// Parses a raw (percent-encoded) request path. Returns nil for paths that are not `/v2`
    /// routes at all (→ 404 NAME_UNKNOWN style "not found"); throws for malformed names, tags
    /// and digests.
    public static func parse(rawPath: String) throws(RegistryError) -> V2Route? {
        guard rawPath == "/v2" || rawPath.hasPrefix("/v2/") else { return nil }
        guard let path = rawPath.removingPercentEncoding else {
            throw RegistryError(.nameInvalid, "the request path is not valid percent-encoding")
        }
        if path == "/v2" || path == "/v2/" { return .base }
        var rest = path.dropFirst(4)  // after "/v2/"
        if rest == "_catalog" { return .catalog }
        if rest == "auth" { return .token }
        let trailingSlash = rest.hasSuffix("/")
        if trailingSlash { rest = rest.dropLast() }
        var segments = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard segments.count >= 2 else { return nil }
        if segments.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
            throw RegistryError(.nameInvalid, "invalid repository name: empty, '.' or '..' path components are not allowed")
        }
        func takeName(dropping count: Int) throws(RegistryError) -> (String, RepositoryPath) {
            segments.removeLast(count)
            guard !segments.isEmpty else { throw RegistryError(.nameInvalid, "invalid repository name: the name is empty") }
            let name = segments.joined(separator: "/")
            return (name, try RepositoryPath(parsing: name))
        }
        let n = segments.count
        if trailingSlash {
            // Only the upload-start route ends with a slash: /v2/<name>/blobs/uploads/
            if n >= 3, segments[n - 2] == "blobs", segments[n - 1] == "uploads" {
                let (name, p) = try takeName(dropping: 2)
                return .uploadStart(name: name, path: p)
            }
            return nil
        }
        if n >= 3, segments[n - 2] == "tags", segments[n - 1] == "list" {
            let (name, p) = try takeName(dropping: 2)
            return .tagsList(name: name, path: p)
        }
        if n >= 3, segments[n - 2] == "manifests" {
            let ref = segments[n - 1]
            let reference: ManifestReference
            if ref.contains(":") {
                reference = .digest(try Digest(validating: ref))
            } else {
                guard Names.isValidTag(ref) else {
                    throw RegistryError(.tagInvalid, "invalid tag '\(ref.prefix(140))': \(Names.tagRule)")
                }
                reference = .tag(ref)
            }
            let (name, p) = try takeName(dropping: 2)
            return .manifest(name: name, path: p, reference: reference)
        }
        if n >= 4, segments[n - 3] == "blobs", segments[n - 2] == "uploads" {
            let id = segments[n - 1]
            let (name, p) = try takeName(dropping: 3)
            return .upload(name: name, path: p, id: id)
        }
        if n >= 3, segments[n - 2] == "blobs" {
            if segments[n - 1] == "uploads" {
                let (name, p) = try takeName(dropping: 2)
                return .uploadStart(name: name, path: p)
            }
            let digest = try Digest(validating: segments[n - 1])
            let (name, p) = try takeName(dropping: 2)
            return .blob(name: name, path: p, digest: digest)
        }
        if n >= 3, segments[n - 2] == "referrers" {
            let digest = try Digest(validating: segments[n - 1])
            let (name, p) = try takeName(dropping: 2)
            return .referrers(name: name, path: p, digest: digest)
        }
        return nil
    }

    /// Builds the path used in `Location` headers.
    public static func location(_ name: String, _ suffix: String) -> String {
        "/v2/\(name)/\(suffix)"
    }
}
