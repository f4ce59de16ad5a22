import NIOCore
import NIOSSL

/// Error text safe to store and log: never a URL (it may carry credentials).
public enum OutboundErrorText {
    public static func describe(_ error: any Error) -> String {
        switch error {
        case let e as IOError: return "\(e.description.prefix(200))"
        case let e as ChannelError:
            if case .connectTimeout = e { return "connect timed out" }
            return "channel error \(e)"
        case let e as NIOSSLError: return "TLS error \(e)"
        case let e as BoringSSLError: return "TLS error \(String(describing: e).prefix(200))"
        case let e as CustomStringConvertible: return String(e.description.prefix(200))
        default: return String(describing: type(of: error))
        }
    }
}
