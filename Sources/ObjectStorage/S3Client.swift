import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SlipwayCore

/// Where a bucket is and how to address it.
public struct S3Endpoint: Sendable, Equatable {
    /// `http://127.0.0.1:9000` or `https://s3.eu-west-1.amazonaws.com`.
    public var url: String
    public var region: String
    public var bucket: String
    /// `https://host/bucket/key` (true) or `https://bucket.host/key` (false).
    public var pathStyle: Bool

    public init(url: String, region: String, bucket: String, pathStyle: Bool) {
        self.url = url
        self.region = region
        self.bucket = bucket
        self.pathStyle = pathStyle
    }
}

/// An error answer of S3 (`<Error><Code>…</Code><Message>…</Message></Error>`).
public struct S3Error: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    public let code: String
    public let message: String

    public var description: String { "S3 answered \(status) \(code): \(message)" }
}

/// One object of a ListObjectsV2 answer.
public struct S3Object: Sendable, Equatable {
    public let key: String
    public let size: Int64
}

/// One unfinished multipart upload of a ListMultipartUploads answer.
public struct S3MultipartUpload: Sendable, Equatable {
    public let key: String
    public let uploadID: String
    public let initiated: Date?
}

/// The S3 calls the blob driver needs, signed with SigV4. Every request body is held in memory
/// (at most one part), so every request can be replayed: throttling (`503 SlowDown`), other 5xx
/// answers and connection failures are retried with exponential backoff, and when the retries
/// run out the call throws `BlobStorageError.unavailable`. Secrets and signatures are never
/// logged; log lines name the operation and the key.
public struct S3Client: Sendable {
    public let endpoint: S3Endpoint
    let signer: SigV4Signer
    let http: HTTPClient
    let logger: Logger
    /// Attempts per request (first try included) for retriable failures.
    public var maxAttempts = 4
    /// Backoff before the second attempt; doubled for each further one.
    public var initialBackoff: Duration = .milliseconds(100)
    public var requestTimeout: TimeAmount = .seconds(60)

    private let scheme: String
    private let hostPort: String

    /// The HTTP client of every S3Client unless one is given. Unlike `HTTPClient.shared` it does
    /// not keep retrying a refused connection until the request's deadline: a connection S3
    /// refuses fails at once (or after 5 s of silence), so this client's own backoff decides,
    /// and an S3 outage reaches the registry's client as a 503 in seconds, not minutes.
    public static let defaultHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(5)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    public init(endpoint: S3Endpoint, credentials: S3Credentials, http: HTTPClient = S3Client.defaultHTTPClient, logger: Logger) throws(S3ConfigurationError) {
        guard let url = URL(string: endpoint.url), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = url.host, !host.isEmpty else {
            throw S3ConfigurationError(key: "storage.s3.endpoint", message: "'\(endpoint.url)' is not an http(s) URL")
        }
        self.endpoint = endpoint
        self.signer = SigV4Signer(credentials: credentials, region: endpoint.region, service: "s3")
        self.http = http
        self.logger = logger
        self.scheme = scheme
        let hostPart = endpoint.pathStyle ? host : "\(endpoint.bucket).\(host)"
        self.hostPort = url.port.map { "\(hostPart):\($0)" } ?? hostPart
    }

    // MARK: objects

    /// Size of `key`, or nil when it does not exist.
    public func head(_ key: String) async throws -> Int64? {
        let response = try await send("HEAD", key: key, accept: [200, 404])
        guard response.status == 200 else { return nil }
        return response.headers.first(name: "content-length").flatMap { Int64($0) }
    }

    /// Streams `range` of `key` to `sink`. A missing key throws an `S3Error` with code `NoSuchKey`.
    public func get(_ key: String, range: Range<Int64>? = nil, into sink: (ByteBuffer) async throws -> Void) async throws {
        var headers: [(String, String)] = []
        if let range {
            guard !range.isEmpty else { return }
            headers.append(("range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)"))
        }
        // Retried only until the answer starts: once bytes went to the sink, a retry would repeat them.
        let response = try await execute("GET", key: key, headers: headers, streaming: true)
        guard response.status.code == 200 || response.status.code == 206 else { throw await Self.error(from: response) }
        for try await buffer in response.body {
            try await sink(buffer)
        }
    }

    public func put(_ key: String, body: ByteBuffer) async throws {
        _ = try await send("PUT", key: key, body: body, accept: [200])
    }

    /// Deletes `key`; a missing key is not an error (S3 answers 204 either way).
    public func delete(_ key: String) async throws {
        _ = try await send("DELETE", key: key, accept: [200, 204, 404])
    }

    /// Server-side copy (up to 5 GiB).
    public func copy(from source: String, to key: String) async throws {
        let response = try await send("PUT", key: key, headers: [("x-amz-copy-source", copySource(source))], accept: [200])
        // S3 may answer 200 and still fail the copy: the error is then in the body.
        if let root = S3XMLElement.parse(Data(response.body.readableBytesView)), root.name == "Error" {
            throw S3Error(status: 200, code: root.value("Code") ?? "", message: root.value("Message") ?? "")
        }
    }

    /// Every object under `prefix`, following continuation tokens.
    public func list(prefix: String) async throws -> [S3Object] {
        var out: [S3Object] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            let root = try await sendXML("GET", key: nil, query: query)
            for item in root.children("Contents") {
                guard let key = item.value("Key") else { continue }
                out.append(S3Object(key: key, size: item.value("Size").flatMap { Int64($0) } ?? 0))
            }
            token = root.value("IsTruncated") == "true" ? root.value("NextContinuationToken") : nil
        } while token != nil
        return out
    }

    /// Checks that the bucket exists and the credentials are accepted.
    /// Creates the bucket (operators usually create it beforehand; tests make one each).
    public func createBucket() async throws {
        _ = try await send("PUT", key: nil, accept: [200])
    }

    public func headBucket() async throws {
        // A HEAD answer has no body to name the failure: ask for one key instead, which fails
        // with the same codes and an XML body.
        _ = try await sendXML("GET", key: nil, query: [("list-type", "2"), ("max-keys", "1")])
    }

    // MARK: multipart

    public func createMultipartUpload(_ key: String) async throws -> String {
        let root = try await sendXML("POST", key: key, query: [("uploads", "")])
        guard let id = root.value("UploadId"), !id.isEmpty else {
            throw S3Error(status: 200, code: "MalformedAnswer", message: "CreateMultipartUpload answered without an UploadId")
        }
        return id
    }

    /// Uploads part `number` (1-based) and returns its ETag.
    public func uploadPart(_ key: String, uploadID: String, number: Int, body: ByteBuffer) async throws -> String {
        let response = try await send("PUT", key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)], body: body, accept: [200])
        return response.headers.first(name: "etag") ?? ""
    }

    /// Copies `range` of `source` as part `number` of the upload and returns the part's ETag.
    public func uploadPartCopy(_ key: String, uploadID: String, number: Int, source: String, range: Range<Int64>) async throws -> String {
        let root = try await sendXML("PUT", key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)],
                                     headers: [("x-amz-copy-source", copySource(source)),
                                               ("x-amz-copy-source-range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")])
        return root.value("ETag") ?? ""
    }

    public func completeMultipartUpload(_ key: String, uploadID: String, etags: [String]) async throws {
        var xml = "<CompleteMultipartUpload>"
        for (index, etag) in etags.enumerated() {
            xml += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(S3XMLElement.escape(etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        // Complete can answer 200 and carry an error in the body.
        _ = try await sendXML("POST", key: key, query: [("uploadId", uploadID)], body: ByteBuffer(string: xml))
    }

    public func abortMultipartUpload(_ key: String, uploadID: String) async throws {
        _ = try await send("DELETE", key: key, query: [("uploadId", uploadID)], accept: [200, 204, 404])
    }

    /// Unfinished multipart uploads of keys under `prefix`.
    public func listMultipartUploads(prefix: String) async throws -> [S3MultipartUpload] {
        var out: [S3MultipartUpload] = []
        var markers: (key: String, id: String)?
        repeat {
            var query = [("uploads", ""), ("prefix", prefix)]
            if let markers { query += [("key-marker", markers.key), ("upload-id-marker", markers.id)] }
            let root = try await sendXML("GET", key: nil, query: query)
            for item in root.children("Upload") {
                guard let key = item.value("Key"), let id = item.value("UploadId") else { continue }
                out.append(S3MultipartUpload(key: key, uploadID: id, initiated: item.value("Initiated").flatMap(Self.parseDate)))
            }
            if root.value("IsTruncated") == "true", let key = root.value("NextKeyMarker"), let id = root.value("NextUploadIdMarker") {
                markers = (key, id)
            } else {
                markers = nil
            }
        } while markers != nil
        return out
    }

    // MARK: presigning

    /// A URL that GETs `key` without credentials until `expires` seconds from `date`.
    public func presignedGetURL(_ key: String, expires: Int, at date: Date = Date()) -> URL? {
        let path = objectPath(key)
        let query = signer.presignedQuery(method: "GET", host: hostPort, path: path, expires: expires, at: date)
        return URL(string: "\(scheme)://\(hostPort)\(SigV4Signer.encodePath(path))?\(query)")
    }

    // MARK: transport

    struct Answer {
        let status: Int
        let headers: HTTPHeaders
        let body: ByteBuffer
    }

    private func objectPath(_ key: String?) -> String {
        let keyPart = key.map { "/" + $0 } ?? "/"
        return endpoint.pathStyle ? "/\(endpoint.bucket)\(key == nil ? "" : keyPart)" : keyPart
    }

    private func copySource(_ key: String) -> String {
        SigV4Signer.encodePath("/\(endpoint.bucket)/\(key)")
    }

    /// Sends a request and parses the XML answer; a non-2xx answer or an `<Error>` body throws.
    private func sendXML(_ method: String, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
                         body: ByteBuffer? = nil) async throws -> S3XMLElement {
        let answer = try await send(method, key: key, query: query, headers: headers, body: body, accept: [200])
        guard let root = S3XMLElement.parse(Data(answer.body.readableBytesView)) else {
            throw S3Error(status: answer.status, code: "MalformedAnswer", message: "S3 answered with a body that is not XML")
        }
        if root.name == "Error" {
            throw S3Error(status: answer.status, code: root.value("Code") ?? "", message: root.value("Message") ?? "")
        }
        return root
    }

    /// Sends a request with a buffered answer; statuses outside `accept` throw the S3 error.
    private func send(_ method: String, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
                      body: ByteBuffer? = nil, accept: Set<Int>) async throws -> Answer {
        let response = try await execute(method, key: key, query: query, headers: headers, body: body, streaming: false)
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        guard accept.contains(Int(response.status.code)) else {
            throw Self.error(status: Int(response.status.code), body: bytes)
        }
        return Answer(status: Int(response.status.code), headers: response.headers, body: bytes)
    }

    /// Sends with retries. A retriable answer is drained and tried again; when `streaming`, the
    /// successful (or final) response is handed back with its body unread.
    private func execute(_ method: String, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
                         body: ByteBuffer? = nil, streaming: Bool) async throws -> HTTPClientResponse {
        var attempt = 0
        while true {
            attempt += 1
            try Task.checkCancellation()
            let request = signedRequest(method, key: key, query: query, headers: headers, body: body)
            let failure: String
            do {
                let response = try await http.execute(request, timeout: requestTimeout, logger: nil)
                let status = Int(response.status.code)
                guard [500, 502, 503, 504].contains(status) else { return response }
                let bytes = try? await response.body.collect(upTo: 1024 * 1024)
                let error = bytes.map { Self.error(status: status, body: $0) } ?? S3Error(status: status, code: "", message: "")
                if attempt >= maxAttempts {
                    throw BlobStorageError.unavailable("S3 answered \(status) \(error.code) to \(method) after \(attempt) attempts")
                }
                failure = "\(status) \(error.code)"
            } catch let error as BlobStorageError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                // The request did not get an answer (refused, reset, timed out): the body is in
                // memory, so sending it again is safe.
                if Task.isCancelled { throw CancellationError() }
                if attempt >= maxAttempts {
                    throw BlobStorageError.unavailable("S3 at \(endpoint.url) unreachable: \(error)")
                }
                failure = "\(error)"
            }
            let delay = initialBackoff * (1 << (attempt - 1))
            logger.warning("s3 request failed, retrying",
                           metadata: ["s3.method": "\(method)", "s3.key": "\(key ?? "")", "s3.failure": "\(failure)", "attempt": "\(attempt)"])
            try await Task.sleep(for: delay)
        }
    }

    private func signedRequest(_ method: String, key: String?, query: [(String, String)], headers: [(String, String)],
                               body: ByteBuffer?) -> HTTPClientRequest {
        let path = objectPath(key)
        let now = Date()
        // Over TLS, object bytes go unsigned (TLS protects them; hashing every part would double
        // the CPU per byte). Over plain HTTP the payload is always signed, as the AWS SDKs do:
        // S3 implementations that check signatures (moto, via botocore) hash the body of any
        // request that did not come over https and refuse UNSIGNED-PAYLOAD there.
        let payloadHash: String
        if let body, body.readableBytes > 64 * 1024, scheme == "https" {
            payloadHash = SigV4Signer.unsignedPayload
        } else if let body {
            payloadHash = body.withUnsafeReadableBytes { SigV4Signer.sha256Hex($0) }
        } else {
            payloadHash = SigV4Signer.emptyPayloadHash
        }
        var signedHeaders = headers + [("host", hostPort), ("x-amz-date", SigV4Signer.amzDate(now)), ("x-amz-content-sha256", payloadHash)]
        // The length is signed too: the HTTP client sends it, and some S3 implementations (moto)
        // sign every header they receive.
        if body != nil || method == "PUT" || method == "POST" {
            signedHeaders.append(("content-length", String(body?.readableBytes ?? 0)))
        }
        let signature = signer.sign(.init(method: method, path: path, query: query, headers: signedHeaders, payloadHash: payloadHash), at: now)
        signedHeaders.append(("authorization", signature.authorization))
        let queryString = SigV4Signer.canonicalQuery(query)
        var request = HTTPClientRequest(url: "\(scheme)://\(hostPort)\(SigV4Signer.encodePath(path))\(queryString.isEmpty ? "" : "?" + queryString)")
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in signedHeaders { request.headers.add(name: name, value: value) }
        if let body {
            request.body = .bytes(body)
        } else if method == "PUT" || method == "POST" {
            request.body = .bytes(ByteBuffer())
        }
        return request
    }

    static func error(from response: HTTPClientResponse) async -> S3Error {
        let bytes = (try? await response.body.collect(upTo: 1024 * 1024)) ?? ByteBuffer()
        return error(status: Int(response.status.code), body: bytes)
    }

    static func error(status: Int, body: ByteBuffer) -> S3Error {
        if let root = S3XMLElement.parse(Data(body.readableBytesView)), root.name == "Error" {
            return S3Error(status: status, code: root.value("Code") ?? "", message: root.value("Message") ?? "")
        }
        // HEAD answers and some proxies carry no XML: name the status instead.
        let code = switch status {
        case 403: "AccessDenied"
        case 404: "NotFound"
        default: "HTTP\(status)"
        }
        return S3Error(status: status, code: code, message: "")
    }

    static func parseDate(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}

/// A storage setting that cannot work, named by its configuration key.
public struct S3ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let key: String
    public let message: String

    public init(key: String, message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { "\(key): \(message)" }
}
