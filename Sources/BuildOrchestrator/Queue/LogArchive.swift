import BuildProtocol
import CLibarchive
import Foundation
import NIOPosix

/// A finished build's log as one gzip-compressed blob of JSON lines (one `BuildLogEntry` per
/// line), kept in blob storage so the database holds only live logs. Compression goes through
/// libarchive's raw format with the gzip filter (the library the worker already uses), on
/// NIO's thread pool so the cooperative pool never blocks on it.
enum LogArchive {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func encode(_ entries: [BuildLogEntry]) async throws -> [UInt8] {
        let encoder = JSONEncoder()
        var text: [UInt8] = []
        for entry in entries {
            text += try encoder.encode(entry)
            text.append(0x0A)
        }
        let plain = text
        return try await NIOThreadPool.singleton.runIfActive { try gzip(plain) }
    }

    static func decode(_ compressed: [UInt8]) async throws -> [BuildLogEntry] {
        let plain = try await NIOThreadPool.singleton.runIfActive { try gunzip(compressed) }
        let decoder = JSONDecoder()
        return try plain.split(separator: 0x0A).map { try decoder.decode(BuildLogEntry.self, from: Data($0)) }
    }

    static func gzip(_ input: [UInt8]) throws -> [UInt8] {
        guard let a = archive_write_new() else { throw Failure(description: "libarchive: out of memory") }
        defer { archive_write_free(a) }
        guard archive_write_add_filter_gzip(a) == ARCHIVE_OK, archive_write_set_format_raw(a) == ARCHIVE_OK,
              archive_write_set_bytes_in_last_block(a, 1) == ARCHIVE_OK else {
            throw Failure(description: "libarchive gzip writer: \(String(cString: archive_error_string(a)))")
        }
        // gzip never grows data by more than a few bytes per 16 KiB block plus its header.
        var output = [UInt8](repeating: 0, count: input.count + input.count / 100 + 1024)
        var used = 0
        let rc = output.withUnsafeMutableBytes { buffer in
            archive_write_open_memory(a, buffer.baseAddress, buffer.count, &used)
        }
        guard rc == ARCHIVE_OK else { throw Failure(description: "libarchive: \(String(cString: archive_error_string(a)))") }
        let entry = archive_entry_new()
        defer { archive_entry_free(entry) }
        archive_entry_set_filetype(entry, 0o100000)  // AE_IFREG (a macro Swift does not import)
        archive_entry_set_pathname(entry, "log")
        archive_entry_set_size(entry, la_int64_t(input.count))
        guard archive_write_header(a, entry) == ARCHIVE_OK else {
            throw Failure(description: "libarchive: \(String(cString: archive_error_string(a)))")
        }
        let written = input.withUnsafeBytes { archive_write_data(a, $0.baseAddress, $0.count) }
        guard written == input.count, archive_write_close(a) == ARCHIVE_OK else {
            throw Failure(description: "libarchive: \(String(cString: archive_error_string(a)))")
        }
        return Array(output[..<used])
    }

    static func gunzip(_ input: [UInt8]) throws -> [UInt8] {
        guard let a = archive_read_new() else { throw Failure(description: "libarchive: out of memory") }
        defer { archive_read_free(a) }
        archive_read_support_filter_gzip(a)
        archive_read_support_format_raw(a)
        return try input.withUnsafeBytes { raw -> [UInt8] in
            guard archive_read_open_memory(a, raw.baseAddress, raw.count) == ARCHIVE_OK else {
                throw Failure(description: "libarchive: \(String(cString: archive_error_string(a)))")
            }
            var entry: OpaquePointer?
            guard archive_read_next_header(a, &entry) == ARCHIVE_OK else {
                throw Failure(description: "archived log is not a gzip stream")
            }
            var out: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let n = chunk.withUnsafeMutableBytes { archive_read_data(a, $0.baseAddress, $0.count) }
                if n == 0 { break }
                guard n > 0 else { throw Failure(description: "libarchive: \(String(cString: archive_error_string(a)))") }
                out += chunk[..<n]
            }
            return out
        }
    }
}
