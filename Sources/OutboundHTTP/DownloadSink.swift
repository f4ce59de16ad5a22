import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The file a download streams into. Writes are batched and run on the outbound threads, off the
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
        let descriptor = try await OutboundThreads.pool.runIfActive { () throws -> Int32 in
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
        try await OutboundThreads.pool.runIfActive {
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
        try await OutboundThreads.pool.runIfActive {
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
