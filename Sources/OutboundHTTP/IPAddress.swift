import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address as plain bytes, for classification.
public enum IPAddress: Sendable, Equatable, CustomStringConvertible {
    /// Host byte order.
    case v4(UInt32)
    /// 16 bytes, network order.
    case v6([UInt8])

    /// Parses a literal (`inet_pton`: dotted quad or IPv6 text, no zone id).
    public init?(_ text: String) {
        var a4 = in_addr()
        if inet_pton(AF_INET, text, &a4) == 1 {
            self = .v4(UInt32(bigEndian: a4.s_addr))
            return
        }
        var a6 = in6_addr()
        if inet_pton(AF_INET6, text, &a6) == 1 {
            self = .v6(withUnsafeBytes(of: &a6) { Array($0) })
            return
        }
        return nil
    }

    public init?(_ address: SocketAddress) {
        switch address {
        case .v4(let a): self = .v4(UInt32(bigEndian: a.address.sin_addr.s_addr))
        case .v6(let a):
            var raw = a.address.sin6_addr
            self = .v6(withUnsafeBytes(of: &raw) { Array($0) })
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .v4(let a): return "\(a >> 24).\(a >> 16 & 0xff).\(a >> 8 & 0xff).\(a & 0xff)"
        case .v6(let bytes):
            var raw = in6_addr()
            withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes) }
            var text = [CChar](repeating: 0, count: 64)
            guard inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count)) != nil else { return "?" }
            return String(cString: text)
        }
    }
}
