import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// One HTTP/1.1 connection to an address the SSRF gate approved: TCP, TLS when the URL is
/// https, NIO's HTTP client codec (Content-Length, chunked and close-delimited bodies), and an
/// optional read-idle limit. Used for exactly one request.
struct OutboundConnection: Sendable {
    typealias Channel = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

    let channel: Channel
    let idle: IdleFlag

    /// Tries each approved address in turn until one accepts the connection. The name is not
    /// resolved again: a rebinding answer never gets a say.
    static func open(_ target: URLSafety.Target, tls: NIOSSLContext?,
                     configuration: OutboundHTTPClient.Configuration) async throws -> OutboundConnection {
        // An IP-literal URL has no name to send as SNI (and NIOSSL refuses one); the
        // certificate is then checked against the address.
        let serverName = target.parsed.hostIsIPLiteral ? nil : target.parsed.host
        let connectTimeout = min(configuration.timeout, configuration.idleTimeout ?? configuration.timeout)
        var lastError: (any Error)?
        for address in target.addresses {
            try Task.checkCancellation()
            do {
                return try await connect(to: address, serverName: serverName, tls: tls, connectTimeout: connectTimeout,
                                         idleTimeout: configuration.idleTimeout)
            } catch {
                lastError = error
            }
        }
        throw OutboundHTTPClient.Failure.connection(lastError.map(OutboundErrorText.describe) ?? "no address to connect to")
    }

    static func connect(to address: SocketAddress, serverName: String?, tls: NIOSSLContext?, connectTimeout: Duration,
                        idleTimeout: Duration?) async throws -> OutboundConnection {
        let idle = IdleFlag()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(TimeAmount(connectTimeout))
            .connect(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let idleTimeout {
                        // First in the pipeline, so a stalled TLS handshake counts as idle too.
                        try pipeline.addHandler(IdleStateHandler(readTimeout: TimeAmount(idleTimeout)))
                        try pipeline.addHandler(IdleCloser(flag: idle))
                    }
                    if let tls {
                        try pipeline.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try pipeline.addHTTPClientHandlers()
                    return try Channel(wrappingChannelSynchronously: channel)
                }
            }
        return OutboundConnection(channel: channel, idle: idle)
    }

    /// Runs `body` over the connection and closes it afterwards. Cancelling the calling task (the
    /// caller's, or the deadline's) closes the connection at once, so reads and writes end.
    func exchange<T: Sendable>(
        _ body: (NIOAsyncChannelInboundStream<HTTPClientResponsePart>, NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>) async throws -> T
    ) async throws -> T {
        let raw = channel.channel
        do {
            return try await withTaskCancellationHandler {
                try await channel.executeThenClose { inbound, outbound in try await body(inbound, outbound) }
            } onCancel: {
                raw.close(promise: nil)
            }
        } catch {
            if idle.fired { throw OutboundHTTPClient.Failure.timedOut }
            throw error
        }
    }

    /// Writes the request. A server may answer and close before the whole request is written
    /// (an early error reply, a close-delimited answer sent as soon as the head arrived): the
    /// write then fails while the answer waits in the inbound stream. The write's error is
    /// returned, not thrown, so the caller reads the answer first and reports the write's
    /// failure only when no answer came.
    static func write(_ parts: [HTTPClientRequestPart],
                      to outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>) async -> (any Error)? {
        do {
            for part in parts { try await outbound.write(part) }
            return nil
        } catch {
            return error
        }
    }

    /// The request line and the headers every request carries. Credentials in the URL
    /// (`https://user:pass@host/`) become Basic authorization, decoded once.
    static func requestHead(_ method: HTTPMethod, _ url: URLSafety.Parsed) -> HTTPRequestHead {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: url.requestTarget)
        head.headers.add(name: "Host", value: url.hostHeader)
        head.headers.add(name: "User-Agent", value: "Slipway")
        head.headers.add(name: "Connection", value: "close")
        if let userInfo = url.userInfo {
            let decoded = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                .map { $0.removingPercentEncoding ?? String($0) }.joined(separator: ":")
            head.headers.add(name: "Authorization", value: "Basic " + Data(decoded.utf8).base64EncodedString())
        }
        return head
    }
}

/// Set when the connection was closed for sending nothing within the idle timeout.
final class IdleFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var fired: Bool { value.load(ordering: .acquiring) }
    func fire() { value.store(true, ordering: .releasing) }
}

/// Closes the connection when `IdleStateHandler` reports no reads within its timeout.
final class IdleCloser: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let flag: IdleFlag

    init(flag: IdleFlag) { self.flag = flag }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            flag.fire()
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
