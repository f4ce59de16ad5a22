import Accounts
import Registry

/// Parses `/repository/<namespace>/<name...>[/build/<uuid>|/tag/<tag>|/manifest/<digest>]` from the right, as the
/// API does: repository names contain slashes and may themselves contain `build` or `tag`
/// segments, so each reading is tried and the one naming an existing repository wins.
enum RepositoryURL: Equatable {
    case repository(RepositoryPath)
    case build(RepositoryPath, uuid: String)
    case tag(RepositoryPath, tag: String)
    /// A manifest's Security Scanner page (Quay's `/repository/<repo>/manifest/<digest>`).
    case manifest(RepositoryPath, digest: String)

    var path: RepositoryPath {
        switch self {
        case .repository(let p), .build(let p, _), .tag(let p, _), .manifest(let p, _): return p
        }
    }

    /// Every reading of the path after `/repository/`, most specific first.
    static func candidates(_ rest: String) -> [RepositoryURL] {
        var segments = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        while segments.last == "" { segments.removeLast() }
        guard segments.count >= 2, !segments.contains("") else { return [] }
        var out: [RepositoryURL] = []
        if segments.count >= 4 {
            let head = segments.dropLast(2).joined(separator: "/")
            let kind = segments[segments.count - 2]
            let last = segments[segments.count - 1]
            if let path = try? RepositoryPath(parsing: head) {
                if kind == "build" { out.append(.build(path, uuid: last)) }
                if kind == "tag" { out.append(.tag(path, tag: last)) }
                if kind == "manifest" { out.append(.manifest(path, digest: last)) }
            }
        }
        if let path = try? RepositoryPath(parsing: segments.joined(separator: "/")), segments.count >= 2 {
            out.append(.repository(path))
        }
        return out
    }

    /// The Security Scanner page of a manifest (`digest` is a stored one: `algorithm:hex`, safe
    /// in a path as it is, as Quay's URLs show it).
    static func security(_ path: RepositoryPath, digest: String) -> String {
        "/repository/" + PageServer.pathEscape(path.description) + "/manifest/" + digest
    }

    /// The page URL of a repository (optionally a tab).
    static func page(_ path: RepositoryPath, tab: String? = nil) -> String {
        "/repository/" + PageServer.pathEscape(path.description) + (tab.map { "?tab=" + $0 } ?? "")
    }
}
