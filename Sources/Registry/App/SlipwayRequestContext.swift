import Hummingbird
import NIOCore

/// The request context of every route: Hummingbird's core storage plus the peer address, which
/// usage logs record (behind a proxy, `X-Forwarded-For` wins; see `clientIP`), and the
/// connection, which blob downloads hand their file to (see `FileRegionResponseHandler`).
public struct SlipwayRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.channel = source.channel
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
