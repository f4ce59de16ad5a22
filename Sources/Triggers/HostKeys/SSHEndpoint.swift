import Foundation

/// The ssh server a git URL names: `ssh://[user@]host[:port]/path` (also `git+ssh://`,
/// `ssh+git://`) or scp-like `[user@]host:path`. Nil for https, http and git:// URLs, whose
/// clones check no ssh host key.
struct SSHEndpoint: Equatable, Sendable, CustomStringConvertible {
    /// Lower-case host name or address, without IPv6 brackets.
    let host: String
    let port: Int

    /// `host:port` (`[v6]:port`): how the endpoint is stored and shown.
    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    static func parse(_ url: String) -> SSHEndpoint? {
        let lower = url.lowercased()
        if let schemeEnd = lower.range(of: "://") {
            guard ["ssh", "git+ssh", "ssh+git"].contains(String(lower[..<schemeEnd.lowerBound])) else { return nil }
            let authority = lower[schemeEnd.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            let hostPort = authority.split(separator: "@", omittingEmptySubsequences: false).last.map(String.init) ?? ""
            return split(hostPort)
        }
        // scp-like: [user@]host:path (no slash before the colon), or [user@][v6]:path.
        var rest = Substring(lower)
        if let at = rest.firstIndex(of: "@"), !rest[..<at].contains("/"), !rest[..<at].contains(":") {
            rest = rest[rest.index(after: at)...]
        }
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]"), rest[rest.index(after: close)...].hasPrefix(":") else { return nil }
            let host = String(rest[rest.index(after: rest.startIndex)..<close])
            return host.isEmpty ? nil : SSHEndpoint(host: host, port: 22)
        }
        guard let colon = rest.firstIndex(of: ":"), !rest[..<colon].contains("/"), rest.distance(from: rest.startIndex, to: colon) > 1 else {
            return nil
        }
        return SSHEndpoint(host: String(rest[..<colon]), port: 22)
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`.
    private static func split(_ hostPort: String) -> SSHEndpoint? {
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { return nil }
            let host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let rest = hostPort[hostPort.index(after: close)...]
            let port = rest.hasPrefix(":") ? Int(rest.dropFirst()) : (rest.isEmpty ? 22 : nil)
            guard !host.isEmpty, let port, (1...65535).contains(port) else { return nil }
            return SSHEndpoint(host: host, port: port)
        }
        let parts = hostPort.split(separator: ":", omittingEmptySubsequences: false)
        guard let host = parts.first.map(String.init), !host.isEmpty, parts.count <= 2 else { return nil }
        let port = parts.count == 2 ? Int(parts[1]) : 22
        guard let port, (1...65535).contains(port) else { return nil }
        return SSHEndpoint(host: host, port: port)
    }
}
