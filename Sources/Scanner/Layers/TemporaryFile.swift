// A private scratch file (mode 0600, unique name in the temporary directory) for bytes that
// must be on disk to be read: an rpm database out of a layer (SQLite opens files), a feed
// being downloaded. The owner removes it when done; nothing else ever opens it by name.

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public final class TemporaryFile {
    public let path: String
    private var descriptor: Int32

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public init(prefix: String, directory: String = NSTemporaryDirectory()) throws(Failure) {
        var template = Array(((directory as NSString).appendingPathComponent("\(prefix).XXXXXX")).utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw Failure(description: "cannot create a temporary file: \(String(cString: strerror(errno)))") }
        descriptor = fd
        path = String(cString: template)
    }

    deinit { closeDescriptor() }

    /// Appends `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let written = posixWrite(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "cannot write a temporary file: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    public func write(_ bytes: [UInt8]) throws(Failure) {
        var failure: Failure?
        bytes.withUnsafeBytes { buffer in
            do throws(Failure) { try write(buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Closes and deletes the file.
    public func remove() {
        closeDescriptor()
        unlink(path)
    }

    private func closeDescriptor() {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
        }
    }
}

/// The C `write`, which the methods of `TemporaryFile` named `write` would otherwise hide.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
