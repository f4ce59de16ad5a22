import Crypto
import Foundation

/// Access key and secret of an S3 account. `description` never shows the secret, so a
/// credentials value that ends up in a log line or an error message leaks nothing.
public struct S3Credentials: Sendable, Equatable, CustomStringConvertible {
    public let accessKey: String
    public let secretKey: String

    public init(accessKey: String, secretKey: String) {
        self.accessKey = accessKey
        self.secretKey = secretKey
    }

    public var description: String { "S3Credentials(accessKey: \(accessKey), secretKey: <redacted>)" }
}

/// AWS Signature Version 4, for `Authorization` headers and for presigned URLs. Pure: the time
/// is an argument, nothing is sent. S3 signs the path as it stands (no normalisation, encoded
/// once), which is what this signer does for every service.
public struct SigV4Signer: Sendable {
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public let credentials: S3Credentials
    public let region: String
    public let service: String

    public init(credentials: S3Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// A request to sign. `path` is not percent-encoded yet (the signer encodes it); `headers`
    /// must include `host` and every header that will be sent and should be signed.
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var query: [(String, String)]
        public var headers: [(String, String)]
        public var payloadHash: String

        public init(method: String, path: String, query: [(String, String)] = [], headers: [(String, String)], payloadHash: String) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.payloadHash = payloadHash
        }
    }

    public struct Signature: Sendable {
        public let canonicalRequest: String
        public let stringToSign: String
        public let signature: String
        public let signedHeaders: String
        public let authorization: String
    }

    /// Signs `request` at `date`. The caller sends `x-amz-date` (`amzDate(date)`) and
    /// `x-amz-content-sha256` itself; when they are not in `request.headers` the signer adds
    /// `x-amz-date` to what it signs.
    public func sign(_ request: Request, at date: Date) -> Signature {
        sign(request, at: date, dateHeader: true)
    }

    func sign(_ request: Request, at date: Date, dateHeader: Bool) -> Signature {
        var headers = request.headers
        // A presigned URL carries the date in its query (X-Amz-Date), not in a header.
        if dateHeader && !headers.contains(where: { $0.0.lowercased() == "x-amz-date" }) {
            headers.append(("x-amz-date", Self.amzDate(date)))
        }
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(headers)
        let canonicalRequest = [
            request.method,
            Self.encodePath(request.path),
            Self.canonicalQuery(request.query),
            canonicalHeaders,
            signedHeaders,
            request.payloadHash,
        ].joined(separator: "\n")
        let scope = credentialScope(date)
        let stringToSign = ["AWS4-HMAC-SHA256", Self.amzDate(date), scope, Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8)))]
            .joined(separator: "\n")
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: signingKey(date)))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Signature(canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature,
                         signedHeaders: signedHeaders, authorization: authorization)
    }

    /// The query of a presigned URL for `method` on `path` at `host`, valid `expires` seconds
    /// from `date`: the caller's `query` plus the `X-Amz-*` parameters and the signature, already
    /// percent-encoded and in canonical order.
    public func presignedQuery(method: String, host: String, path: String, query: [(String, String)] = [],
                               expires: Int, at date: Date) -> String {
        var items = query
        items.append(("X-Amz-Algorithm", "AWS4-HMAC-SHA256"))
        items.append(("X-Amz-Credential", "\(credentials.accessKey)/\(credentialScope(date))"))
        items.append(("X-Amz-Date", Self.amzDate(date)))
        items.append(("X-Amz-Expires", String(expires)))
        items.append(("X-Amz-SignedHeaders", "host"))
        let signed = sign(Request(method: method, path: path, query: items, headers: [("host", host)], payloadHash: Self.unsignedPayload),
                          at: date, dateHeader: false)
        return Self.canonicalQuery(items) + "&X-Amz-Signature=" + signed.signature
    }

    func credentialScope(_ date: Date) -> String {
        "\(Self.dateStamp(date))/\(region)/\(service)/aws4_request"
    }

    func signingKey(_ date: Date) -> SymmetricKey {
        func hmac(_ key: SymmetricKey, _ text: String) -> SymmetricKey {
            SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key)))
        }
        var key = SymmetricKey(data: Data(("AWS4" + credentials.secretKey).utf8))
        for part in [Self.dateStamp(date), region, service, "aws4_request"] { key = hmac(key, part) }
        return key
    }

    // MARK: canonical forms

    static func canonicalHeaders(_ headers: [(String, String)]) -> (String, String) {
        // Repeated names join their values with commas in the order given.
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            merged[name.lowercased(), default: []].append(trimAndCollapse(value))
        }
        let names = merged.keys.sorted()
        let lines = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        return (lines, names.joined(separator: ";"))
    }

    static func trimAndCollapse(_ value: String) -> String {
        var out = ""
        var lastWasSpace = false
        for ch in value.trimmingCharacters(in: .whitespaces) {
            if ch == " " {
                if !lastWasSpace { out.append(ch) }
                lastWasSpace = true
            } else {
                out.append(ch)
                lastWasSpace = false
            }
        }
        return out
    }

    static func canonicalQuery(_ query: [(String, String)]) -> String {
        let encoded: [(name: String, value: String)] = query.map { (encode($0.0), encode($0.1)) }
        let sorted = encoded.sorted { (a: (name: String, value: String), b: (name: String, value: String)) -> Bool in
            a.name == b.name ? a.value < b.value : a.name < b.name
        }
        return sorted.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    }

    static func encodePath(_ path: String) -> String {
        encode(path, keepSlash: true)
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters (and `/` in paths),
    /// upper-case hex, as SigV4 requires.
    static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    public static func hex(_ digest: SHA256.Digest) -> String { hex(Array(digest)) }
    static func hex(_ code: HashedAuthenticationCode<SHA256>) -> String { hex(Array(code)) }

    public static func sha256Hex<D: DataProtocol>(_ data: D) -> String { hex(SHA256.hash(data: data)) }

    public static func amzDate(_ date: Date) -> String { format(date, "yyyyMMdd'T'HHmmss'Z'") }
    static func dateStamp(_ date: Date) -> String { format(date, "yyyyMMdd") }

    private static func format(_ date: Date, _ pattern: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = pattern
        return formatter.string(from: date)
    }
}
