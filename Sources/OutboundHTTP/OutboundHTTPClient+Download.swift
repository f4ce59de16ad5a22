import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension OutboundHTTPClient {
    /// What `download` got back: the status, and for a 2xx answer the bytes now in the file.
    public struct Download: Sendable, Equatable {
        public let status: Int
        public let bytes: Int64

        public init(status: Int, bytes: Int64) {
            self.status = status
            self.bytes = bytes
        }
    }

    /// GETs `url` into `file`, streaming, with the body capped at `maxBytes` (default
    /// `maxResponseBodyBytes`). A non-2xx answer (a redirect included) is returned as its status
    /// without reading the body, and leaves no file. The file never grows past the cap: a
    /// Content-Length above it is refused before anything is written, a longer streamed body
    /// when the cap would be crossed. On any failure, or when the calling task is cancelled, the
    /// partial file is removed.
    public func download(_ url: String, to file: URL, maxBytes: Int64? = nil) async throws(Failure) -> Download {
        let cap = maxBytes ?? configuration.maxResponseBodyBytes
        // Whatever happens next, what is left at `file` is this download or nothing.
        try? FileManager.default.removeItem(at: file)
        let target = try await approve(url)
        let tls = try tlsContext(for: target.parsed)
        var head = OutboundConnection.requestHead(.GET, target.parsed)
        head.headers.add(name: "Accept-Encoding", value: "identity")
        let request = head
        let configuration = self.configuration
        do {
            return try await Deadline.run(configuration.timeout) {
                let connection = try await OutboundConnection.open(target, tls: tls, configuration: configuration)
                return try await connection.exchange { inbound, outbound in
                    try await outbound.write(.head(request))
                    try await outbound.write(.end(nil))
                    return try await Self.receive(inbound, into: file, cap: cap)
                }
            }
        } catch {
            try? FileManager.default.removeItem(at: file)
            throw Self.failure(error)
        }
    }

    /// Streams the body of a 2xx answer into `file`; removes the file unless it completes.
    static func receive(_ inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>, into file: URL,
                        cap: Int64) async throws -> Download {
        var sink: DownloadSink?
        do {
            var status = 0
            var received: Int64 = 0
            for try await part in inbound {
                switch part {
                case .head(let head):
                    status = Int(head.status.code)
                    guard status / 100 == 2 else { return Download(status: status, bytes: 0) }
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
                    return Download(status: status, bytes: received)
                }
            }
            // The decoder ends a close-delimited body with `.end`; anything else is a cut-off answer.
            throw Failure.connection(status == 0 ? "the server closed the connection without answering"
                                                 : "the connection closed before the whole body arrived")
        } catch {
            sink?.discard()
            throw error
        }
    }
}

/// The file a download streams into. Writes are batched and run on NIO's thread pool, off the
/// cooperative pool; `discard` closes and unlinks.
final class DownloadSink {
    private let path: String
    private let descriptor: Int32
    private var pending = ByteBuffer()
    private var closed = false
    static let batchBytes = 256 * 1024

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    static func create(_ file: URL) async throws -> DownloadSink {
        let path = file.path
        let descriptor = try await NIOThreadPool.singleton.runIfActive { () throws -> Int32 in
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw OutboundHTTPClient.Failure.storage(String(cString: strerror(errno))) }
            return fd
        }
        return DownloadSink(path: path, descriptor: descriptor)
    }

    func append(_ chunk: ByteBuffer) async throws {
        var chunk = chunk
        pending.writeBuffer(&chunk)
        if pending.readableBytes >= Self.batchBytes { try await flush() }
    }

    func finish() async throws {
        try await flush()
        closed = true
        let fd = descriptor
        try await NIOThreadPool.singleton.runIfActive {
            guard close(fd) == 0 else { throw OutboundHTTPClient.Failure.storage(String(cString: strerror(errno))) }
        }
    }

    /// Closes (if still open) and removes the file. Quick system calls, so it also runs on a
    /// cancelled task's way out.
    func discard() {
        if !closed {
            closed = true
            _ = close(descriptor)
        }
        _ = unlink(path)
    }

    private func flush() async throws {
        guard pending.readableBytes > 0 else { return }
        let batch = pending
        pending = ByteBuffer()
        let fd = descriptor
        try await NIOThreadPool.singleton.runIfActive {
            try batch.withUnsafeReadableBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        throw OutboundHTTPClient.Failure.storage(String(cString: strerror(errno)))
                    }
                    offset += written
                }
            }
        }
    }
}
