import Foundation
import NIOCore
import NIOHTTP1

extension OutboundHTTPClient {
    /// What `fetch` got back: the status, and for a 2xx answer the whole body.
    public struct Fetched: Sendable, Equatable {
        public let status: Int
        public let body: [UInt8]

        public init(status: Int, body: [UInt8]) {
            self.status = status
            self.body = body
        }
    }

    /// GETs a small document (OpenID discovery, a JWKS) into memory, through the same SSRF gate,
    /// deadline and no-redirect rule as every other call. A non-2xx answer comes back as its
    /// status with no body; a body larger than `maxBytes` (default `maxResponseBodyBytes`) is
    /// `tooLarge`, never truncated.
    public func fetch(_ url: String, accept: String = "application/json", maxBytes: Int64? = nil) async throws(Failure) -> Fetched {
        let cap = maxBytes ?? configuration.maxResponseBodyBytes
        return try await get(url, headers: [("Accept", accept), ("Accept-Encoding", "identity")]) { inbound in
            try await Self.collect(inbound, cap: cap)
        }
    }

    /// Reads a 2xx answer's body into memory, up to `cap` bytes.
    static func collect(_ inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>, cap: Int64) async throws -> Fetched {
        var status = 0
        var body: [UInt8] = []
        for try await part in inbound {
            switch part {
            case .head(let head):
                status = Int(head.status.code)
                guard status / 100 == 2 else { return Fetched(status: status, body: []) }
                if let announced = head.headers.first(name: "content-length").flatMap({ Int64($0) }), announced > cap {
                    throw Failure.tooLarge(limit: cap, announced: announced)
                }
            case .body(let chunk):
                guard Int64(body.count + chunk.readableBytes) <= cap else { throw Failure.tooLarge(limit: cap, announced: nil) }
                body += chunk.readableBytesView
            case .end:
                return Fetched(status: status, body: body)
            }
        }
        throw Failure.connection(status == 0 ? noAnswer : "the connection closed before the whole body arrived")
    }
}
