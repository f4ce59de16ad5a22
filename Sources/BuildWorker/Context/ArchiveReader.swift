// libarchive's read side, restricted to the formats a build context may use. Only tar and zip are
// enabled, and only the gzip, xz and bzip2 filters: `archive_read_support_format_all` would also
// enable mtree (whose entries can name files on the worker's disk) and filters that shell out to
// external programs.

import CLibarchive

#if canImport(Darwin)
import Darwin
/// libarchive reports "not an archive" with EFTYPE on the BSDs and macOS.
private let ARCHIVE_ERRNO_FILE_FORMAT_VALUE = EFTYPE
#else
import Glibc
/// libarchive reports "not an archive" with EILSEQ on Linux (`ARCHIVE_ERRNO_FILE_FORMAT`).
private let ARCHIVE_ERRNO_FILE_FORMAT_VALUE = EILSEQ
#endif

/// Owns one `struct archive *` opened for reading. Not thread-safe; used from one blocking
/// extraction at a time.
final class ArchiveReader {
    enum Format: Sendable, Equatable {
        case tar
        case zip
        case other(String)
    }

    enum Compression: Sendable, Equatable {
        case none
        case gzip
        case xz
        case bzip2
        case other(String)
    }

    enum Next {
        case entry(ArchiveEntryView)
        case end
    }

    private let archive: OpaquePointer

    /// Opens `path`, letting libarchive detect the filter and format from the content.
    /// Returns nil when the data matches none of the enabled formats.
    static func open(path: String) throws(BuildContextError) -> ArchiveReader? {
        let reader = try ArchiveReader()
        try reader.enableFilters()
        guard archive_read_support_format_tar(reader.archive) == ARCHIVE_OK,
              archive_read_support_format_zip(reader.archive) == ARCHIVE_OK else {
            throw BuildContextError(.io, "could not enable the tar and zip readers: \(reader.errorMessage)")
        }
        // Format bidding happens here, on the first blocks of (decompressed) data.
        guard archive_read_open_filename(reader.archive, path, blockSize) == ARCHIVE_OK else {
            if archive_errno(reader.archive) == ARCHIVE_ERRNO_FILE_FORMAT_VALUE {
                return nil
            }
            throw BuildContextError(.corruptArchive, "could not read the uploaded archive: \(reader.errorMessage)")
        }
        return reader
    }

    /// The compression of a file that is not an archive, for the error message: opened again with
    /// libarchive's "raw" format, which accepts any data once the filters are peeled off.
    static func compression(ofFileAt path: String) -> Compression {
        guard let reader = try? ArchiveReader(), (try? reader.enableFilters()) != nil,
              archive_read_support_format_raw(reader.archive) == ARCHIVE_OK,
              archive_read_open_filename(reader.archive, path, blockSize) == ARCHIVE_OK else {
            return .none
        }
        return reader.compression
    }

    private static let blockSize = 64 * 1024

    private init() throws(BuildContextError) {
        guard let archive = archive_read_new() else {
            throw BuildContextError(.io, "could not allocate a libarchive reader")
        }
        self.archive = archive
    }

    private func enableFilters() throws(BuildContextError) {
        // ARCHIVE_WARN from a filter means libarchive would fall back to an external program;
        // gzip/xz/bzip2 are linked into every libarchive we support, so accept either.
        for enable in [archive_read_support_filter_gzip, archive_read_support_filter_xz,
                       archive_read_support_filter_bzip2] {
            let status = enable(archive)
            if status != ARCHIVE_OK, status != ARCHIVE_WARN {
                throw BuildContextError(.io, "could not enable a decompression filter: \(errorMessage)")
            }
        }
    }

    deinit {
        archive_read_free(archive)
    }

    var errorMessage: String {
        archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
    }

    var format: Format {
        let code = archive_format(archive) & ARCHIVE_FORMAT_BASE_MASK
        switch code {
        case ARCHIVE_FORMAT_TAR: return .tar
        case ARCHIVE_FORMAT_ZIP: return .zip
        default: return .other(archive_format_name(archive).map { String(cString: $0) } ?? "unknown")
        }
    }

    /// The outermost filter: libarchive stacks filters with index 0 nearest the format.
    var compression: Compression {
        let count = archive_filter_count(archive)
        guard count > 0 else { return .none }
        switch archive_filter_code(archive, 0) {
        case ARCHIVE_FILTER_NONE: return .none
        case ARCHIVE_FILTER_GZIP: return .gzip
        case ARCHIVE_FILTER_XZ: return .xz
        case ARCHIVE_FILTER_BZIP2: return .bzip2
        default: return .other(archive_filter_name(archive, 0).map { String(cString: $0) } ?? "unknown")
        }
    }

    /// Advances to the next entry. The returned view is valid until the next call.
    func next() throws(BuildContextError) -> Next {
        var entry: OpaquePointer?
        let status = archive_read_next_header(archive, &entry)
        switch status {
        case ARCHIVE_OK, ARCHIVE_WARN:
            // Warnings are things like unknown pax keywords or a name that could not be converted
            // to the locale's charset; the entry itself is usable.
            guard let entry else { throw BuildContextError(.corruptArchive, "libarchive returned no entry") }
            return .entry(ArchiveEntryView(pointer: entry))
        case ARCHIVE_EOF:
            return .end
        default:
            throw BuildContextError(.corruptArchive, "the archive is damaged or unreadable: \(errorMessage)")
        }
    }

    /// Reads the current entry's data. Returns 0 at the end of the entry.
    func read(into buffer: UnsafeMutableRawBufferPointer, entry: String) throws(BuildContextError) -> Int {
        let count = archive_read_data(archive, buffer.baseAddress, buffer.count)
        if count < 0 {
            throw BuildContextError(.corruptArchive, entry: entry,
                                    "could not read archive entry '\(entry)': \(errorMessage)")
        }
        return count
    }
}

/// A borrowed view of the entry libarchive is positioned on.
struct ArchiveEntryView {
    enum Kind: Equatable {
        case regular
        case directory
        case symlink
        case characterDevice
        case blockDevice
        case fifo
        case socket
        case unknown(UInt32)
    }

    let pointer: OpaquePointer

    /// The name as stored. Tar names are raw bytes; zip names flagged UTF-8 may only be available
    /// in UTF-8 form when the process runs in the C locale.
    var pathname: String? {
        if let raw = archive_entry_pathname(pointer) { return String(cString: raw) }
        if let utf8 = archive_entry_pathname_utf8(pointer) { return String(cString: utf8) }
        return nil
    }

    var kind: Kind {
        switch UInt32(archive_entry_filetype(pointer)) & 0o170000 {
        case 0o100000: return .regular
        case 0o040000: return .directory
        case 0o120000: return .symlink
        case 0o020000: return .characterDevice
        case 0o060000: return .blockDevice
        case 0o010000: return .fifo
        case 0o140000: return .socket
        case let other: return .unknown(other)
        }
    }

    var hardlinkTarget: String? {
        if let raw = archive_entry_hardlink(pointer) { return String(cString: raw) }
        if let utf8 = archive_entry_hardlink_utf8(pointer) { return String(cString: utf8) }
        return nil
    }

    var symlinkTarget: String? {
        if let raw = archive_entry_symlink(pointer) { return String(cString: raw) }
        if let utf8 = archive_entry_symlink_utf8(pointer) { return String(cString: utf8) }
        return nil
    }

    /// Permission bits only (`0o7777`); file type and ownership are not used.
    var permissions: UInt32 { UInt32(archive_entry_perm(pointer)) & 0o7777 }

    /// The declared size, when the archive records one up front.
    var declaredSize: Int? {
        archive_entry_size_is_set(pointer) != 0 ? Int(archive_entry_size(pointer)) : nil
    }

    var modificationTime: (seconds: Int, nanoseconds: Int)? {
        guard archive_entry_mtime_is_set(pointer) != 0 else { return nil }
        return (Int(archive_entry_mtime(pointer)), Int(archive_entry_mtime_nsec(pointer)))
    }
}
