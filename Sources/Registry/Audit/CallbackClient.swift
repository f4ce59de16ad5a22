import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// POSTs JSON to URLs users supplied (log-export callbacks; notification webhooks later).
///
/// A tiny HTTP/1.1 client on NIO rather than URLSession, because it must connect to the very
/// address `URLSafety` approved (no second DNS lookup a rebinding attacker could answer
/// differently), never follow redirects, and give up after one deadline covering connect, TLS,
/// request and response head. The response body is not read.
public struct CallbackClient: Sendable {
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The URL failed the SSRF check: retrying will not help.
        case refused(String)
        case timedOut
        case connection(String)

        public var description: String {
            switch self {
            case .refused(let why): return "callback URL refused: \(why)"
            case .timedOut: return "callback timed out"
            case .connection(let why): return "callback connection failed: \(why)"
            }
        }
    }

    public let allowPrivateTargets: Bool
    public let timeout: Duration

    public init(allowPrivateTargets: Bool, timeout: Duration = .seconds(10)) {
        self.allowPrivateTargets = allowPrivateTargets
        self.timeout = timeout
    }

    /// Sends `body` (JSON) and returns the response status code.
    public func post(json body: ByteBuffer, to url: String) async throws(Failure) -> Int {
        let target: URLSafety.Target
        do {
            target = try await URLSafety.check(url, allowPrivate: allowPrivateTargets)
        } catch {
            throw .refused(error.reason)
        }
        let timeout = self.timeout
        do {
            return try await Self.withDeadline(timeout) {
                // Try each approved address in turn until one accepts the connection.
                var lastError: (any Error)?
                for address in target.addresses {
                    let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
                    do {
                        channel = try await Self.connect(to: address, target.parsed, connectTimeout: timeout)
                    } catch {
                        lastError = error
                        continue
                    }
                    return try await Self.exchange(body, over: channel, target.parsed)
                }
                throw Failure.connection(lastError.map(Self.describe) ?? "no address to connect to")
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw .connection(Self.describe(error))
        }
    }

    /// Error text safe to log and store: never the URL (it may carry credentials).
    static func describe(_ error: any Error) -> String {
        switch error {
        case let e as IOError: return "\(e.description.prefix(200))"
        case let e as ChannelError:
            if case .connectTimeout = e { return "connect timed out" }
            return "channel error \(e)"
        case let e as NIOSSLError: return "TLS error \(e)"
        default: return String(describing: type(of: error))
        }
    }

    /// The TLS client context (system trust roots), built once.
    static let tlsContext: Result<NIOSSLContext, any Error> = Result { try NIOSSLContext(configuration: .makeClientConfiguration()) }

    static func connect(to address: SocketAddress, _ url: URLSafety.Parsed,
                        connectTimeout: Duration) async throws -> NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart> {
        let tls: NIOSSLContext? = url.isHTTPS ? try tlsContext.get() : nil
        // An IP-literal URL has no name to send as SNI (and NIOSSL refuses one).
        let serverName = url.hostIsIPLiteral ? nil : url.host
        return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(Int64(connectTimeout.components.seconds) * 1000))
            .connect(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
    }

    static func exchange(_ body: ByteBuffer, over channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>,
                         _ url: URLSafety.Parsed) async throws -> Int {
        try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: url.requestTarget)
            head.headers.add(name: "Host", value: url.hostHeader)
            head.headers.add(name: "User-Agent", value: "Slipway")
            head.headers.add(name: "Content-Type", value: "application/json")
            head.headers.add(name: "Content-Length", value: String(body.readableBytes))
            head.headers.add(name: "Connection", value: "close")
            if let userInfo = url.userInfo {
                let decoded = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                    .map { $0.removingPercentEncoding ?? String($0) }.joined(separator: ":")
                head.headers.add(name: "Authorization", value: "Basic " + Data(decoded.utf8).base64EncodedString())
            }
            try await outbound.write(.head(head))
            try await outbound.write(.body(.byteBuffer(body)))
            try await outbound.write(.end(nil))
            for try await part in inbound {
                if case .head(let response) = part { return Int(response.status.code) }
            }
            throw Failure.connection("the server closed the connection without answering")
        }
    }

    /// Runs `body`, cancelling it when `limit` passes first.
    static func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        do {
            return try await Deadline.run(limit, body)
        } catch is Deadline.Expired {
            throw Failure.timedOut
        }
    }
}
