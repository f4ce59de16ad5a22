import Foundation
import Registry
import SlipwayCore

/// Which git URLs a trigger may name. The same rules as the worker's `GitSource`: network
/// transports only (https, http, git, ssh, scp-like `user@host:path`); `file://`, local paths
/// and remote helpers (`ext::`, anything with `::`) are refused, because a worker would
/// otherwise read its own disk or run a command. Private addresses are allowed on purpose:
/// custom-git triggers exist for self-hosted git servers, which usually live on private networks.
/// The clone runs on a build worker; the API server contacts the host too, but only to read its
/// ssh host key and to list refs for a manual run (`TriggerHostKeys`, `ManualRunRefs`), and never
/// a cloud-metadata address (`GitHostContact`).
enum GitURLRules {
    static func check(_ url: String) throws(DomainError) {
        guard !url.contains(where: { $0.isWhitespace }) else {
            throw DomainError.invalidInput("config.build_source may not contain whitespace")
        }
        let lower = url.lowercased()
        if lower.hasPrefix("-") {
            throw DomainError.invalidInput("config.build_source may not start with '-'")
        }
        if lower.contains("::") {
            throw DomainError.invalidInput("config.build_source '\(url)' uses a git remote helper (such as ext::), which is not allowed")
        }
        if let schemeEnd = lower.range(of: "://") {
            let scheme = String(lower[..<schemeEnd.lowerBound])
            switch scheme {
            case "https", "http", "git", "ssh", "git+ssh", "ssh+git":
                let rest = lower[schemeEnd.upperBound...]
                let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
                let host = authority.split(separator: "@").last.map(String.init) ?? ""
                guard !host.isEmpty else { throw DomainError.invalidInput("config.build_source '\(url)' has no host") }
                return
            case "file":
                throw DomainError.invalidInput("config.build_source '\(url)' is a local file URL; use an ssh, https or git URL")
            default:
                throw DomainError.invalidInput("config.build_source '\(url)' uses the unsupported scheme '\(scheme)'; use ssh, https or git")
            }
        }
        // scp-like syntax: [user@]host:path, with no slash before the colon.
        if let colon = url.firstIndex(of: ":"), !url[..<colon].contains("/"), url.distance(from: url.startIndex, to: colon) > 1,
           url.index(after: colon) < url.endIndex {
            return
        }
        throw DomainError.invalidInput("config.build_source '\(url)' is a local path; use an ssh, https or git URL")
    }

    /// A browsable https URL for well-known hosts' clone URLs (GitHub, GitLab, Bitbucket), or nil.
    static func webURL(_ source: String) -> String? {
        var s = source
        if s.hasSuffix(".git") { s.removeLast(4) }
        if s.hasPrefix("https://") || s.hasPrefix("http://") {
            guard let u = URLComponents(string: s), let host = u.host else { return nil }
            return "https://\(host)\(u.path)"
        }
        if s.hasPrefix("ssh://") {
            guard let u = URLComponents(string: s), let host = u.host else { return nil }
            return "https://\(host)\(u.path)"
        }
        // git@host:owner/repo
        if let colon = s.firstIndex(of: ":"), !s[..<colon].contains("/") {
            let host = s[..<colon].split(separator: "@").last.map(String.init) ?? ""
            let path = s[s.index(after: colon)...]
            guard !host.isEmpty, !path.isEmpty else { return nil }
            return "https://\(host)/\(path.hasPrefix("/") ? String(path.dropFirst()) : String(path))"
        }
        return nil
    }
}

/// git's ref-name rules (`git check-ref-format`), applied to every ref and branch name that
/// comes from a payload or a manual run. Names are never handed to a shell, and tags made from
/// them are escaped; this refuses what git itself would refuse, and `..` in particular.
enum GitRefRules {
    static let maxLength = 255

    static func isValidName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= maxLength, name != "@" else { return false }
        if name.contains("..") || name.contains("@{") || name.contains("//") { return false }
        if name.hasPrefix("/") || name.hasSuffix("/") || name.hasSuffix(".") || name.hasPrefix("-") { return false }
        for scalar in name.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f { return false }
            if " ~^:?*[\\".unicodeScalars.contains(scalar) { return false }
        }
        for component in name.split(separator: "/") {
            if component.hasPrefix(".") || component.hasSuffix(".lock") { return false }
        }
        return true
    }

    /// `refs/(heads|tags|remotes)/<name>` split into kind and name, or nil.
    static func parse(_ ref: String) -> (kind: String, name: String)? {
        let parts = ref.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "refs", ["heads", "tags", "remotes"].contains(parts[1]), isValidName(String(parts[2])) else {
            return nil
        }
        return (String(parts[1]), String(parts[2]))
    }

    /// A commit id as payloads carry it: 7 to 64 hexadecimal digits (Quay accepts abbreviations).
    static func isCommitID(_ s: String) -> Bool {
        (7...64).contains(s.count) && s.allSatisfy(\.isHexDigit)
    }

    static func isZeroCommit(_ s: String) -> Bool { !s.isEmpty && s.allSatisfy { $0 == "0" } }
}
