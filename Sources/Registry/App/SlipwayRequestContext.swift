import Hummingbird
import NIOCore

/// The request context of every route: Hummingbird's core storage plus the peer address, which
/// usage logs record (behind a proxy, `X-Forwarded-For` wins; see `clientIP`).
public struct SlipwayRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// The client's IP for audit records.
    public func clientIP(_ request: Request) -> String? {
        if let forwarded = request.headers[.init("X-Forwarded-For")!]?.split(separator: ",").first {
            return forwarded.trimmingCharacters(in: .whitespaces)
        }
        return remoteAddress?.ipAddress
    }
}

import Foundation
