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
    /// `headers` are added as given (an OIDC userinfo request's bearer token); like form
    /// fields they may be secrets and never reach an error.
    public func fetch(_ url: String, accept: String = "application/json", maxBytes: Int64? = nil,
                      headers: [(String, String)] = []) async throws(Failure) -> Fetched {
        let cap = maxBytes ?? configuration.maxResponseBodyBytes
        return try await get(url, headers: [("Accept", accept), ("Accept-Encoding", "identity")] + headers) { inbound in
            try await Self.collect(inbound, cap: cap)
        }
    }

    /// POSTs an `application/x-www-form-urlencoded` form and reads the answer like `fetch` (an
    /// OAuth token endpoint). Field values may be secrets: they go only into the body, never
    /// into the URL or an error.
    public func postForm(_ url: String, fields: [(String, String)], maxBytes: Int64? = nil) async throws(Failure) -> Fetched {
        let cap = maxBytes ?? configuration.maxResponseBodyBytes
        let body = ByteBuffer(string: Self.formEncode(fields))
        return try await exchange(.POST, url, headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json"),
                                                        ("Accept-Encoding", "identity")], body: body) { inbound in
            try await Self.collect(inbound, cap: cap)
        }
    }

    /// `a=1&b=x%20y`: RFC 3986 unreserved characters stay, everything else is percent-encoded.
    static func formEncode(_ fields: [(String, String)]) -> String {
        var unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        unreserved.insert(charactersIn: "-._~")
        return fields.map { name, value in
            (name.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "") + "=" + (value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "")
        }.joined(separator: "&")
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
