import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Server-side request forgery checks for URLs users hand Slipway to call: log-export callbacks,
/// notification webhooks and Slack, build archive URLs.
///
/// A URL passes when it is `http`/`https`, names a plain host, and *every* address that host
/// resolves to is public: not loopback, private, shared (CGNAT), link-local, cloud metadata,
/// unspecified, multicast or reserved, including IPv4 hidden inside IPv6 (mapped, NAT64, 6to4).
/// Numeric tricks (`2130706433`, `0x7f.1`, `127.1`) need no special case: they are judged by what
/// they resolve to. The caller must connect to one of the returned addresses and never resolve
/// the name again, or an answer that changes between check and connection (DNS rebinding) would
/// slip through; `OutboundHTTPClient` does exactly that.
public enum URLSafety {
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public let reason: String
        public init(_ reason: String) { self.reason = reason }
        public var description: String { reason }
    }

    /// A parsed, not yet resolved URL.
    public struct Parsed: Sendable, Equatable {
        public let scheme: String
        /// Lower-case host without IPv6 brackets.
        public let host: String
        public let port: Int
        /// Path and query as sent on the request line.
        public let requestTarget: String
        /// `Host` header value.
        public let hostHeader: String
        /// `user:password` from the URL, still percent-encoded; sent decoded as Basic credentials.
        public let userInfo: String?
        public var isHTTPS: Bool { scheme == "https" }
        /// True when `host` is an IP literal (no TLS server name then).
        public let hostIsIPLiteral: Bool
    }

    /// A URL that passed the check, with the addresses to connect to.
    public struct Target: Sendable {
        public let parsed: Parsed
        public let addresses: [SocketAddress]
    }

    static let maximumLength = 2048
    /// Names that point inside the platform whatever they resolve to here.
    static let forbiddenNames: Set<String> = ["localhost", "metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal"]

    /// Syntax only: scheme, host, port, no control characters.
    public static func parse(_ text: String) throws(Refusal) -> Parsed {
        guard text.utf8.count <= maximumLength else { throw Refusal("the URL is longer than \(maximumLength) characters") }
        guard !text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7f }) else {
            throw Refusal("the URL contains spaces or control characters")
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw Refusal("not a valid URL")
        }
        guard scheme == "http" || scheme == "https" else { throw Refusal("the URL must start with http:// or https://") }
        var host = (components.percentEncodedHost ?? "").lowercased()
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw Refusal("the URL has no host") }
        let isIPv6 = host.contains(":")
        if isIPv6 {
            guard IPAddress(host) != nil else { throw Refusal("the URL's host is not a valid IPv6 address") }
        } else {
            // Plain ASCII names only: no percent-encoding, zone ids or Unicode look-alikes. `_` is
            // allowed: resolvers accept it and container networks name services with it (a
            // worker's orchestrator URL may be `http://slipway_server:8080`).
            guard host.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d || $0 == 0x2e || $0 == 0x5f }),
                  !host.hasPrefix("."), !host.contains("..") else {
                throw Refusal("the URL's host is not a valid host name")
            }
        }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        guard (1...65535).contains(port) else { throw Refusal("the URL's port is out of range") }
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        let target = path + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
        guard target.hasPrefix("/") else { throw Refusal("not a valid URL") }
        let bracketed = isIPv6 ? "[\(host)]" : host
        let defaultPort = scheme == "https" ? 443 : 80
        var userInfo: String?
        if let user = components.percentEncodedUser {
            userInfo = user + ":" + (components.percentEncodedPassword ?? "")
        }
        return Parsed(scheme: scheme, host: host, port: port, requestTarget: target,
                      hostHeader: port == defaultPort ? bracketed : "\(bracketed):\(port)", userInfo: userInfo,
                      hostIsIPLiteral: IPAddress(host) != nil)
    }

    /// Parses, resolves (off the cooperative pool) and checks every address. With
    /// `allowPrivate` (tests, or a closed network) only the syntax and resolution are checked.
    public static func check(_ text: String, allowPrivate: Bool) async throws(Refusal) -> Target {
        try await check(text, allowPrivate: allowPrivate, resolver: .system)
    }

    /// How long a name lookup may take. A DNS server that does not answer would otherwise hold
    /// the caller for resolv.conf's timeouts times its attempts (20 s and more per name).
    static let lookupTimeout: Duration = .seconds(5)

    /// `check` with the name resolution supplied (tests answer differently on each lookup to
    /// prove the client never looks a name up twice, or never answer).
    static func check(_ text: String, allowPrivate: Bool, resolver: HostResolver,
                      lookupLimit: Duration = lookupTimeout) async throws(Refusal) -> Target {
        let parsed = try parse(text)
        let name = parsed.host.hasSuffix(".") ? String(parsed.host.dropLast()) : parsed.host
        if !allowPrivate, forbiddenNames.contains(name) || name.hasSuffix(".localhost") {
            throw Refusal("the URL's host '\(name)' is internal")
        }
        let addresses: [SocketAddress]
        do {
            let host = parsed.host, port = parsed.port
            addresses = try await Deadline.abandoning(after: lookupLimit) { try await resolver.resolve(host, port) }
        } catch is Deadline.Expired {
            throw Refusal("the URL's host could not be resolved within \(lookupLimit)")
        } catch {
            throw Refusal("the URL's host cannot be resolved")
        }
        guard !addresses.isEmpty else { throw Refusal("the URL's host cannot be resolved") }
        if !allowPrivate {
            for address in addresses {
                guard let ip = IPAddress(address) else { throw Refusal("the URL's host resolves to an unsupported address") }
                if let why = forbiddenReason(ip) {
                    throw Refusal("the URL's host resolves to a \(why) address (\(ip))")
                }
            }
        }
        return Target(parsed: parsed, addresses: addresses)
    }

    /// Why `ip` must not be called, or nil when it is an ordinary public address.
    public static func forbiddenReason(_ ip: IPAddress) -> String? {
        switch ip {
        case .v4(let a): return forbiddenReason(v4: a)
        case .v6(let b): return forbiddenReason(v6: b)
        }
    }

    static func forbiddenReason(v4 a: UInt32) -> String? {
        func within(_ base: UInt32, _ bits: UInt32) -> Bool {
            let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
            return a & mask == base & mask
        }
        func v4(_ x: UInt32, _ y: UInt32, _ z: UInt32, _ w: UInt32) -> UInt32 { x << 24 | y << 16 | z << 8 | w }
        if a == v4(169, 254, 169, 254) || a == v4(168, 63, 129, 16) || a == v4(100, 100, 100, 200) { return "cloud metadata" }
        if within(0, 8) { return "unspecified" }
        if within(v4(127, 0, 0, 0), 8) { return "loopback" }
        if within(v4(10, 0, 0, 0), 8) || within(v4(172, 16, 0, 0), 12) || within(v4(192, 168, 0, 0), 16) { return "private" }
        if within(v4(100, 64, 0, 0), 10) { return "shared (carrier-grade NAT)" }
        if within(v4(169, 254, 0, 0), 16) { return "link-local" }
        if within(v4(224, 0, 0, 0), 4) { return "multicast" }
        if within(v4(240, 0, 0, 0), 4) { return "reserved" }  // includes 255.255.255.255
        if within(v4(192, 0, 0, 0), 24) || within(v4(198, 18, 0, 0), 15) || within(v4(192, 0, 2, 0), 24)
            || within(v4(198, 51, 100, 0), 24) || within(v4(203, 0, 113, 0), 24) { return "reserved" }
        return nil
    }

    static func forbiddenReason(v6 b: [UInt8]) -> String? {
        precondition(b.count == 16)
        func prefix(_ p: [UInt8], bits: Int) -> Bool {
            for i in 0..<bits {
                let bit = (b[i / 8] >> (7 - UInt8(i % 8))) & 1
                let want = (p[i / 8] >> (7 - UInt8(i % 8))) & 1
                if bit != want { return false }
            }
            return true
        }
        func embedded(_ at: Int) -> UInt32 {
            UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
        }
        let zero = [UInt8](repeating: 0, count: 16)
        if b == zero { return "unspecified" }
        if b == zero.dropLast() + [1] { return "loopback" }
        // fd00:ec2::254, AWS's metadata service over IPv6.
        if b == [0xfd, 0x00, 0x0e, 0xc2] + [UInt8](repeating: 0, count: 10) + [0x02, 0x54] { return "cloud metadata" }
        if prefix([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], bits: 96) { return forbiddenReason(v4: embedded(12)) }  // ::ffff:a.b.c.d
        if prefix([0x00, 0x64, 0xff, 0x9b] + [UInt8](repeating: 0, count: 8), bits: 96) { return forbiddenReason(v4: embedded(12)) }  // NAT64
        if prefix([0x20, 0x02], bits: 16) { return forbiddenReason(v4: embedded(2)) }  // 6to4
        if prefix(zero, bits: 96) { return "reserved" }  // deprecated IPv4-compatible ::a.b.c.d
        if prefix([0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], bits: 48) { return "private" }  // local-use NAT64
        if prefix([0x20, 0x01, 0x00, 0x00], bits: 32) { return "reserved" }  // Teredo: hides an IPv4 peer
        if prefix([0x20, 0x01, 0x0d, 0xb8], bits: 32) { return "reserved" }  // documentation
        if prefix([0x01, 0x00] + [UInt8](repeating: 0, count: 6), bits: 64) { return "reserved" }  // discard-only
        if prefix([0xfc], bits: 7) { return "private" }  // unique local fc00::/7
        if prefix([0xfe, 0x80], bits: 10) { return "link-local" }
        if prefix([0xfe, 0xc0], bits: 10) { return "private" }  // deprecated site-local
        if prefix([0xff], bits: 8) { return "multicast" }
        return nil
    }

    /// Every address `host` resolves to (getaddrinfo on the lookup threads, off the cooperative pool).
    static func resolve(host: String, port: Int) async throws -> [SocketAddress] {
        // A literal needs no lookup and no thread.
        if IPAddress(host) != nil, let address = try? SocketAddress(ipAddress: host, port: port) { return [address] }
        return try await OutboundThreads.lookups.runIfActive {
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            #if os(Linux)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            #else
            hints.ai_socktype = SOCK_STREAM
            #endif
            hints.ai_protocol = Int32(IPPROTO_TCP)
            var result: UnsafeMutablePointer<addrinfo>?
            let rc = getaddrinfo(host, String(port), &hints, &result)
            guard rc == 0 else { throw Refusal("the URL's host cannot be resolved") }
            defer { freeaddrinfo(result) }
            var out: [SocketAddress] = []
            var cursor = result
            while let info = cursor {
                if let addr = info.pointee.ai_addr {
                    switch info.pointee.ai_family {
                    case AF_INET:
                        out.append(addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: host) })
                    case AF_INET6:
                        out.append(addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: host) })
                    default:
                        break
                    }
                }
                cursor = info.pointee.ai_next
            }
            return out
        }
    }
}

/// How host names become addresses: `getaddrinfo` in production, a script in tests.
struct HostResolver: Sendable {
    let resolve: @Sendable (_ host: String, _ port: Int) async throws -> [SocketAddress]

    static let system = HostResolver { host, port in try await URLSafety.resolve(host: host, port: port) }
}
