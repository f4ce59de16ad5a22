import Foundation
import NIOCore
import NIOHTTP1

extension OutboundHTTPClient {
    /// What `download` got back: the status, for a 2xx answer the bytes now in the file, and
    /// the response headers `download` was asked to return (lower-case names).
    public struct Download: Sendable, Equatable {
        public let status: Int
        public let bytes: Int64
        public let headers: [String: String]

        public init(status: Int, bytes: Int64, headers: [String: String] = [:]) {
            self.status = status
            self.bytes = bytes
            self.headers = headers
        }
    }

    /// GETs `url` into `file`, streaming, with the body capped at `maxBytes` (default
    /// `maxResponseBodyBytes`). A non-2xx answer (a redirect included) is returned as its status
    /// without reading the body, and leaves no file. The file never grows past the cap: a
    /// Content-Length above it is refused before anything is written, a longer streamed body
    /// when the cap would be crossed. On any failure, or when the calling task is cancelled, the
    /// partial file is removed. `headers` go on the request (conditional requests:
    /// `If-None-Match`, `If-Modified-Since`); the response headers named in `returning` come back
    /// with any status (a 304's `ETag`, say).
    public func download(_ url: String, to file: URL, maxBytes: Int64? = nil, headers: [(String, String)] = [],
                         returning: [String] = []) async throws(Failure) -> Download {
        let cap = maxBytes ?? configuration.maxResponseBodyBytes
        let wanted = returning.map { $0.lowercased() }
        // Whatever happens next, what is left at `file` is this download or nothing.
        try? FileManager.default.removeItem(at: file)
        do {
            return try await get(url, headers: [("Accept-Encoding", "identity")] + headers) { inbound in
                try await Self.receive(inbound, into: file, cap: cap, returning: wanted)
            }
        } catch {
            try? FileManager.default.removeItem(at: file)
            throw Self.failure(error)
        }
    }

    /// GETs `url` through the SSRF gate, within the deadline, on a fresh connection, and hands
    /// the response stream to `receive`. A write that failed is reported only when no answer came.
    func get<T: Sendable>(_ url: String, headers: [(String, String)],
                          _ receive: @escaping @Sendable (NIOAsyncChannelInboundStream<HTTPClientResponsePart>) async throws -> T)
        async throws(Failure) -> T {
        try await exchange(.GET, url, headers: headers, body: nil, receive)
    }

    /// `get` for any method, with an optional request body.
    func exchange<T: Sendable>(_ method: HTTPMethod, _ url: String, headers: [(String, String)], body: ByteBuffer?,
                               _ receive: @escaping @Sendable (NIOAsyncChannelInboundStream<HTTPClientResponsePart>) async throws -> T)
        async throws(Failure) -> T {
        let target = try await approve(url)
        let tls = try tlsContext(for: target.parsed)
        var head = OutboundConnection.requestHead(method, target.parsed)
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        if let body { head.headers.add(name: "Content-Length", value: String(body.readableBytes)) }
        let request = head
        let parts: [HTTPClientRequestPart] = body.map { [.head(request), .body(.byteBuffer($0)), .end(nil)] } ?? [.head(request), .end(nil)]
        let configuration = self.configuration
        do {
            return try await Deadline.run(configuration.timeout) {
                let connection = try await OutboundConnection.open(target, tls: tls, configuration: configuration)
                return try await connection.exchange { inbound, outbound in
                    let writeFailure = await OutboundConnection.write(parts, to: outbound)
                    do {
                        return try await receive(inbound)
                    } catch Failure.connection(Self.noAnswer) where writeFailure != nil {
                        throw writeFailure!
                    }
                }
            }
        } catch {
            throw Self.failure(error)
        }
    }

    static let noAnswer = "the server closed the connection without answering"

    /// Streams the body of a 2xx answer into `file`; removes the file unless it completes.
    static func receive(_ inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>, into file: URL,
                        cap: Int64, returning wanted: [String] = []) async throws -> Download {
        var sink: DownloadSink?
        do {
            var status = 0
            var received: Int64 = 0
            var headers: [String: String] = [:]
            for try await part in inbound {
                switch part {
                case .head(let head):
                    status = Int(head.status.code)
                    for name in wanted { if let value = head.headers.first(name: name) { headers[name] = value } }
                    guard status / 100 == 2 else { return Download(status: status, bytes: 0, headers: headers) }
                    if let announced = head.headers.first(name: "content-length").flatMap({ Int64($0) }), announced > cap {
                        throw Failure.tooLarge(limit: cap, announced: announced)
                    }
                    sink = try await DownloadSink.create(file)
                case .body(let chunk):
                    guard let sink else { continue }
                    guard received + Int64(chunk.readableBytes) <= cap else { throw Failure.tooLarge(limit: cap, announced: nil) }
                    received += Int64(chunk.readableBytes)
                    try await sink.append(chunk)
                case .end:
                    guard let sink else { break }
                    try await sink.finish()
                    return Download(status: status, bytes: received, headers: headers)
                }
            }
            // The decoder ends a close-delimited body with `.end`; anything else is a cut-off answer.
            throw Failure.connection(status == 0 ? noAnswer : "the connection closed before the whole body arrived")
        } catch {
            sink?.discard()
            throw error
        }
    }
}
