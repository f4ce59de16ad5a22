import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Registry

/// POSTs a notification body to a user-supplied URL (webhooks, Slack) over plain HTTP/1.1 on NIO.
///
/// Like `CallbackClient` it connects only to the addresses `URLSafety` approved (no second DNS
/// lookup), never follows redirects and puts one deadline on connect, TLS, request and response;
/// unlike it, it sends extra headers (the HMAC signature), presents the instance's TLS client
/// certificate, and keeps a short, sanitised excerpt of an error response for `last_error`.
/// HTTP is written and read by hand (a request line, a few headers, a status line), which keeps
/// the module's dependencies to NIOCore/NIOPosix/NIOSSL.
struct WebhookClient: Sendable {
    enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The URL failed the SSRF check: retrying will not help.
        case refused(String)
        case timedOut
        case connection(String)

        var description: String {
            switch self {
            case .refused(let why): return "URL refused: \(why)"
            case .timedOut: return "timed out"
            case .connection(let why): return "connection failed: \(why)"
            }
        }
    }

    struct Reply: Sendable, Equatable {
        let status: Int
        /// Up to `excerptLimit` printable characters of the body (non-2xx only).
        let excerpt: String
    }

    let allowPrivateTargets: Bool
    let timeout: Duration
    let tls: NotificationTLS

    static let excerptLimit = 200
    static let maxResponseBytes = 16 * 1024

    /// `onSent` is called once the request has been written.
    func post(_ url: String, body: [UInt8], headers: [(String, String)], onSent: @escaping @Sendable () -> Void = {}) async throws(Failure) -> Reply {
        let target: URLSafety.Target
        do {
            target = try await URLSafety.check(url, allowPrivate: allowPrivateTargets)
        } catch {
            throw .refused(error.reason)
        }
        let tlsContext: NIOSSLContext?
        switch (target.parsed.isHTTPS, tls.context) {
        case (false, _): tlsContext = nil
        case (true, .success(let context)): tlsContext = context
        case (true, .failure(let error)): throw .connection(error.description)
        }
        let request = Self.request(target.parsed, body: body, headers: headers)
        let timeout = self.timeout
        do {
            return try await Deadline.run(timeout) { () async throws -> Reply in
                var lastError: (any Error)?
                for address in target.addresses {
                    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
                    do {
                        channel = try await Outbound.connect(to: address, tls: tlsContext,
                                                             serverName: target.parsed.hostIsIPLiteral ? nil : target.parsed.host, timeout: timeout)
                    } catch {
                        lastError = error
                        continue
                    }
                    return try await Self.exchange(request, over: channel, onSent: onSent)
                }
                throw Failure.connection(lastError.map(Outbound.describe) ?? "no address to connect to")
            }
        } catch let failure as Failure {
            throw failure
        } catch is Deadline.Expired {
            throw .timedOut
        } catch {
            throw .connection(Outbound.describe(error))
        }
    }

    static func request(_ url: URLSafety.Parsed, body: [UInt8], headers: [(String, String)]) -> ByteBuffer {
        var head = "POST \(url.requestTarget) HTTP/1.1\r\nHost: \(url.hostHeader)\r\nUser-Agent: Slipway\r\n"
        head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
        if let userInfo = url.userInfo {
            let decoded = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                .map { $0.removingPercentEncoding ?? String($0) }.joined(separator: ":")
            head += "Authorization: Basic \(Data(decoded.utf8).base64EncodedString())\r\n"
        }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        var buffer = ByteBuffer(string: head)
        buffer.writeBytes(body)
        return buffer
    }

    /// Sends the request and reads the status line, and for an error status enough of the body
    /// for an excerpt.
    static func exchange(_ request: ByteBuffer, over channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>,
                         onSent: @Sendable () -> Void) async throws -> Reply {
        try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(request)
            onSent()
            var received: [UInt8] = []
            var reply: Reply?
            do {
                for try await chunk in inbound {
                    received += chunk.readableBytesView
                    reply = parse(received, complete: false)
                    if let reply { return reply }
                    if received.count >= maxResponseBytes { break }
                }
            } catch {
                // A receiver that answered and then dropped the connection (TLS without close_notify) still answered.
                if let answered = parse(received, complete: true) { return answered }
                throw error
            }
            if let answered = parse(received, complete: true) ?? reply { return answered }
            throw Failure.connection("the server closed the connection without answering")
        }
    }

    /// The status (and excerpt) once the head has arrived; with `complete`, whatever there is.
    /// An error reply is only final when its body has arrived (Content-Length) or `complete`.
    static func parse(_ bytes: [UInt8], complete: Bool) -> Reply? {
        guard let lineEnd = bytes.firstRange(of: [13, 10]) else { return nil }
        let statusLine = String(decoding: bytes[..<lineEnd.lowerBound], as: UTF8.self)
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), (100...599).contains(status) else {
            return complete ? Reply(status: 0, excerpt: "not an HTTP response") : nil
        }
        guard let headEnd = bytes.firstRange(of: [13, 10, 13, 10]) else {
            return complete || status / 100 == 2 ? Reply(status: status, excerpt: "") : nil
        }
        if status / 100 == 2 { return Reply(status: status, excerpt: "") }
        let head = String(decoding: bytes[..<headEnd.lowerBound], as: UTF8.self).lowercased()
        let body = Array(bytes[headEnd.upperBound...])
        var contentLength: Int?
        for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
            contentLength = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
        }
        let wanted = min(contentLength ?? excerptLimit, excerptLimit)
        guard complete || body.count >= wanted else { return nil }
        return Reply(status: status, excerpt: excerpt(body))
    }

    /// Printable ASCII only, capped: receiver text goes into `last_error` and logs.
    static func excerpt(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(excerptLimit * 4), as: UTF8.self)
        let cleaned = String(text.unicodeScalars.map { $0.value >= 0x20 && $0.value < 0x7f ? Character($0) : " " })
        return String(cleaned.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ").prefix(excerptLimit))
    }
}

/// Outbound TCP (+ TLS) connections as async byte channels.
enum Outbound {
    static func connect(to address: SocketAddress, tls: NIOSSLContext?, serverName: String?, timeout: Duration) async throws
        -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(Int64(timeout.components.seconds) * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
            .connect(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
    }

    /// Error text safe to store: never a URL (it may carry credentials).
    static func describe(_ error: any Error) -> String {
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
