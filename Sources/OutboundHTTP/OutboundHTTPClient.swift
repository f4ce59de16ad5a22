import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// The one HTTP/1.1 client for calls Slipway makes to URLs it was handed: notification webhooks
/// and Slack, log-export callbacks, build contexts downloaded by workers.
///
/// Every request goes through the same gate and limits:
/// - the URL passes `URLSafety` (no loopback, private or metadata addresses unless
///   `allowPrivateTargets`), and the client connects only to the addresses that check approved:
///   the name is never resolved a second time, so DNS rebinding cannot redirect it;
/// - one deadline covers connect, TLS, request, response head and body; an optional idle
///   timeout gives up on a server that stops sending;
/// - redirects are never followed: a 3xx comes back as a status (the URL was checked, not
///   wherever a redirect points, such as a cloud metadata address);
/// - response bodies are bounded (an excerpt for `send`, a size cap for `download`);
/// - HTTPS uses the system trust roots plus `OutboundTLS`'s extra roots and client certificate.
///
/// A fresh connection per request (`Connection: close`): these calls are rare, and a fresh
/// connection has no state to go stale or to carry from one user's URL to another's.
public struct OutboundHTTPClient: Sendable {
    public struct Configuration: Sendable {
        /// Let URLs reach loopback, private, link-local and cloud-metadata addresses (closed
        /// networks, the orchestrator's own URLs, tests). Scheme, syntax and resolution are
        /// still checked.
        public var allowPrivateTargets: Bool
        /// One limit for a whole request: connect, TLS, request, response head and body.
        public var timeout: Duration
        /// Give up when the server sends nothing for this long (nil: the deadline alone).
        public var idleTimeout: Duration?
        /// Response body bytes read at most: what `send` keeps for its excerpt, and the file
        /// size cap of `download` unless the call names its own.
        public var maxResponseBodyBytes: Int64
        public var tls: OutboundTLS

        public init(allowPrivateTargets: Bool = false, timeout: Duration = .seconds(10), idleTimeout: Duration? = nil,
                    maxResponseBodyBytes: Int64 = 16 * 1024, tls: OutboundTLS = .systemRoots) {
            self.allowPrivateTargets = allowPrivateTargets
            self.timeout = timeout
            self.idleTimeout = idleTimeout
            self.maxResponseBodyBytes = maxResponseBodyBytes
            self.tls = tls
        }
    }

    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The URL failed the SSRF check or is not a valid http(s) URL: retrying will not help.
        case refused(String)
        /// The deadline passed, or the server sent nothing for the idle timeout.
        case timedOut
        /// No connection, a TLS failure, or the connection broke before an answer arrived.
        case connection(String)
        /// A download's body is larger than its cap: `announced` when the server said so up
        /// front (Content-Length), nil when the cap was reached while streaming.
        case tooLarge(limit: Int64, announced: Int64?)
        /// A download could not be written to its file.
        case storage(String)
        /// The calling task was cancelled.
        case cancelled

        public var description: String {
            switch self {
            case .refused(let why): return "URL refused: \(why)"
            case .timedOut: return "timed out"
            case .connection(let why): return "connection failed: \(why)"
            case .tooLarge(let limit, let announced?): return "the response is \(announced) bytes, more than the \(limit)-byte limit"
            case .tooLarge(let limit, nil): return "the response exceeds the \(limit)-byte limit"
            case .storage(let why): return "cannot store the response: \(why)"
            case .cancelled: return "cancelled"
            }
        }
    }

    /// What `send` got back.
    public struct Reply: Sendable, Equatable {
        public let status: Int
        /// Up to `excerptLimit` printable characters of the body (non-2xx replies only): safe
        /// to store and log.
        public let excerpt: String

        public init(status: Int, excerpt: String) {
            self.status = status
            self.excerpt = excerpt
        }
    }

    public enum Method: String, Sendable {
        case post = "POST"
        case put = "PUT"
    }

    public static let excerptLimit = 200

    public let configuration: Configuration
    let resolver: HostResolver

    public init(_ configuration: Configuration) {
        self.init(configuration, resolver: .system)
    }

    init(_ configuration: Configuration, resolver: HostResolver) {
        self.configuration = configuration
        self.resolver = resolver
    }

    /// Sends `body` and returns the status, with an excerpt of the body for a non-2xx answer.
    /// A 2xx answer returns as soon as its head arrives; the body is not read. `onSent` is
    /// called once the whole request has been written (the notification dispatcher starts the
    /// next delivery then, so receivers see events in order).
    public func send(_ method: Method = .post, to url: String, body: ByteBuffer, contentType: String = "application/json",
                     headers: [(String, String)] = [], onSent: @escaping @Sendable () -> Void = {}) async throws(Failure) -> Reply {
        let target = try await approve(url)
        let tls = try tlsContext(for: target.parsed)
        var head = OutboundConnection.requestHead(HTTPMethod(rawValue: method.rawValue), target.parsed)
        head.headers.add(name: "Content-Type", value: contentType)
        head.headers.add(name: "Content-Length", value: String(body.readableBytes))
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        let request = head
        let configuration = self.configuration
        let maxBody = Int(clamping: configuration.maxResponseBodyBytes)
        // The answer so far: a deadline that passes while an error body trickles in still
        // reports the status that arrived.
        let answer = ReplyInProgress()
        do {
            return try await Deadline.run(configuration.timeout) {
                let connection = try await OutboundConnection.open(target, tls: tls, configuration: configuration)
                return try await connection.exchange { inbound, outbound in
                    let writeFailure = await OutboundConnection.write([.head(request), .body(.byteBuffer(body)), .end(nil)], to: outbound)
                    if writeFailure == nil { onSent() }
                    do {
                        return try await Self.readReply(inbound, maxBody: maxBody, into: answer)
                    } catch {
                        // No answer: the failed write is what went wrong.
                        throw writeFailure ?? error
                    }
                }
            }
        } catch {
            if let reply = answer.reply { return reply }
            throw Self.failure(error)
        }
    }

    /// `send` with the body as bytes.
    public func send(_ method: Method = .post, to url: String, body: [UInt8], contentType: String = "application/json",
                     headers: [(String, String)] = [], onSent: @escaping @Sendable () -> Void = {}) async throws(Failure) -> Reply {
        try await send(method, to: url, body: ByteBuffer(bytes: body), contentType: contentType, headers: headers, onSent: onSent)
    }

    /// Reads the head, and for an error status enough of the body for an excerpt.
    static func readReply(_ inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>, maxBody: Int,
                          into answer: ReplyInProgress) async throws -> Reply {
        var status: Int?
        var body: [UInt8] = []
        do {
            for try await part in inbound {
                switch part {
                case .head(let head):
                    let code = Int(head.status.code)
                    if code / 100 == 2 { return Reply(status: code, excerpt: "") }
                    status = code
                    answer.update(Reply(status: code, excerpt: ""))
                case .body(let chunk):
                    guard let code = status else { continue }
                    body += chunk.readableBytesView.prefix(max(0, maxBody - body.count))
                    let reply = Reply(status: code, excerpt: excerpt(body))
                    answer.update(reply)
                    if body.count >= excerptLimit || body.count >= maxBody { return reply }
                case .end:
                    if let code = status { return Reply(status: code, excerpt: excerpt(body)) }
                }
            }
        } catch {
            // A receiver that answered and then dropped the connection (TLS without
            // close_notify) still answered.
            if let code = status { return Reply(status: code, excerpt: excerpt(body)) }
            if error is HTTPParserError { return Reply(status: 0, excerpt: "not an HTTP response") }
            throw error
        }
        if let code = status { return Reply(status: code, excerpt: excerpt(body)) }
        throw Failure.connection("the server closed the connection without answering")
    }

    /// Printable ASCII only, whitespace collapsed, capped: receiver text goes into stored errors
    /// and logs.
    static func excerpt(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(excerptLimit * 4), as: UTF8.self)
        let cleaned = String(text.unicodeScalars.map { $0.value >= 0x20 && $0.value < 0x7f ? Character($0) : " " })
        return String(cleaned.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ").prefix(excerptLimit))
    }

    // MARK: Shared steps

    /// The SSRF gate: the URL's syntax, and every address its host resolves to.
    func approve(_ url: String) async throws(Failure) -> URLSafety.Target {
        do {
            return try await URLSafety.check(url, allowPrivate: configuration.allowPrivateTargets, resolver: resolver)
        } catch {
            throw .refused(error.reason)
        }
    }

    func tlsContext(for url: URLSafety.Parsed) throws(Failure) -> NIOSSLContext? {
        guard url.isHTTPS else { return nil }
        switch configuration.tls.context {
        case .success(let context): return context
        case .failure(let error): throw .connection(error.description)
        }
    }

    /// What a thrown error means to the caller.
    static func failure(_ error: any Error) -> Failure {
        switch error {
        case let failure as Failure: return failure
        case is Deadline.Expired: return .timedOut
        case is CancellationError: return .cancelled
        default: return Task.isCancelled ? .cancelled : .connection(OutboundErrorText.describe(error))
        }
    }
}

/// The reply as far as it has arrived, shared between the exchange and its deadline.
final class ReplyInProgress: Sendable {
    private let state = Mutex<OutboundHTTPClient.Reply?>(nil)
    var reply: OutboundHTTPClient.Reply? { state.withLock { $0 } }
    func update(_ reply: OutboundHTTPClient.Reply) { state.withLock { $0 = reply } }
}
