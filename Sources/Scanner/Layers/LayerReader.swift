// Reads one layer blob (a tar, plain or gzip/zstd/xz/bzip2-compressed) through libarchive, as a
// stream: entries the indexer does not want are skipped without being kept, metadata files are
// read up to their kind's size cap and parsed, whiteouts are recorded, and Java archives are
// opened (from memory, size-capped, nesting-capped) for their pom.properties. Executables are
// searched for Go module build info as they stream by (only ELF files, decided by their first
// bytes). Nothing is written to disk under an entry's name, so traversal names and symlinks
// cannot escape anywhere; only regular files are read. The one file written is an rpm SQLite
// database, to a private temporary file SQLite can open, removed right after. Blocking: run it
// off the cooperative pool.

import CLibarchive

public enum LayerReader {
    /// Indexes the layer stored at `path`.
    public static func read(path: String, limits: LayerLimits = LayerLimits()) throws(LayerReadError) -> LayerContents {
        let archive = try LibarchiveReader(formats: [.tar])
        guard archive_read_open_filename(archive.pointer, path, 64 * 1024) == ARCHIVE_OK else {
            throw LayerReadError("the layer is not a (compressed) tar archive: \(archive.errorMessage)")
        }
        var contents = LayerContents()
        var entries = 0
        while let entry = try archive.nextEntry() {
            entries += 1
            if entries > limits.maximumEntries {
                throw LayerReadError("the layer has more than \(limits.maximumEntries) entries")
            }
            if archive.uncompressedPosition > limits.maximumUncompressedBytes {
                throw LayerReadError("the layer expands to more than \(limits.maximumUncompressedBytes) bytes")
            }
            guard let raw = entry.pathname, let path = contents.noteEntry(raw), entry.isRegularFile else { continue }
            if let kind = MetadataFileKind.classify(path) {
                contents.files[path] = kind == .rpmSQLite
                    ? try readRPMDatabase(archive, path: path, declaredSize: entry.size)
                    : try readMetadata(archive, kind: kind, path: path, declaredSize: entry.size)
            } else if isJavaArchive(path), entry.size <= limits.maximumJavaArchiveSize {
                let bytes = try archive.readData(maximum: limits.maximumJavaArchiveSize)
                for (inner, file) in javaPackages(bytes ?? [], archivePath: path, depth: 1, limits: limits) {
                    contents.files[inner] = file
                }
            } else if entry.isExecutable, entry.size >= GoBuildInfo.headerSize, Int64(entry.size) <= limits.maximumExecutableSize,
                      let file = try readGoBinary(archive, path: path) {
                contents.files[path] = file
            }
        }
        return contents
    }

    static func readMetadata(_ archive: LibarchiveReader, kind: MetadataFileKind, path: String,
                             declaredSize: Int) throws(LayerReadError) -> LayerContents.MetadataFile {
        if kind.maximumSize == 0 { return kind.parse([], path: path) }
        guard declaredSize <= kind.maximumSize, let data = try archive.readData(maximum: kind.maximumSize) else {
            return .init(unsupported: "larger than the \(kind.maximumSize >> 20) MiB the scanner reads of such a file")
        }
        return kind.parse(data, path: path)
    }

    /// Streams an rpm SQLite database into a private temporary file (never past the kind's size
    /// cap) and reads its packages; a database that cannot be read is reported with the reason.
    static func readRPMDatabase(_ archive: LibarchiveReader, path: String, declaredSize: Int) throws(LayerReadError) -> LayerContents.MetadataFile {
        let limit = MetadataFileKind.rpmSQLite.maximumSize
        guard declaredSize <= limit else { return .init(unsupported: "larger than the \(limit >> 20) MiB the scanner reads of such a file") }
        let file: TemporaryFile
        do throws(TemporaryFile.Failure) { file = try TemporaryFile(prefix: "slipway-rpmdb") } catch { throw LayerReadError(error.description) }
        defer { file.remove() }
        var written = 0
        try archive.forEachChunk { (chunk) throws(LayerReadError) in
            written += chunk.count
            guard written <= limit else { return false }
            do throws(TemporaryFile.Failure) { try file.write(chunk) } catch { throw LayerReadError(error.description) }
            return true
        }
        guard written <= limit else { return .init(unsupported: "larger than the \(limit >> 20) MiB the scanner reads of such a file") }
        do throws(RPMDatabase.Failure) {
            return .init(packages: try RPMDatabase.packages(file: file.path, path: path))
        } catch {
            return .init(unsupported: "the rpm database cannot be read: \(error.message)")
        }
    }

    /// Searches an executable for Go build info; nil when it is not an ELF file or not built by Go.
    static func readGoBinary(_ archive: LibarchiveReader, path: String) throws(LayerReadError) -> LayerContents.MetadataFile? {
        var scanner = GoBuildInfoScanner()
        var outcome: GoBuildInfoScanner.Outcome?
        var first = true
        try archive.forEachChunk { chunk in
            if first {
                first = false
                // ELF only: the rest of the file is not read at all.
                guard chunk.count >= 4, chunk[0] == 0x7f, chunk[1] == 0x45, chunk[2] == 0x4c, chunk[3] == 0x46 else {
                    outcome = .absent
                    return false
                }
            }
            outcome = scanner.consume(chunk)
            return outcome == nil
        }
        switch outcome ?? scanner.finish() {
        case .found(let info): return .init(packages: info.packages(path: path))
        case .pointerFormat: return .init(unsupported: "a Go executable built before Go 1.18, whose module list is not read")
        case .absent: return nil
        }
    }

    static func isJavaArchive(_ path: String) -> Bool {
        path.hasSuffix(".jar") || path.hasSuffix(".war") || path.hasSuffix(".ear")
    }

    /// The pom.properties files inside a Java archive held in memory, keyed `ARCHIVE!/INNER`;
    /// nested archives are opened up to the nesting limit. A damaged jar yields nothing (the
    /// image is still scanned; the jar's packages are simply not found).
    static func javaPackages(_ bytes: [UInt8], archivePath: String, depth: Int,
                             limits: LayerLimits) -> [(String, LayerContents.MetadataFile)] {
        guard !bytes.isEmpty, let archive = try? LibarchiveReader(formats: [.zip]) else { return [] }
        var found: [(String, LayerContents.MetadataFile)] = []
        bytes.withUnsafeBytes { buffer in
            guard archive_read_open_memory(archive.pointer, buffer.baseAddress, buffer.count) == ARCHIVE_OK else { return }
            while let entry = try? archive.nextEntry() {
                guard entry.isRegularFile, let raw = entry.pathname else { continue }
                let inner = archivePath + "!/" + LayerContents.normalised(raw)
                if MetadataFileKind.classify(inner) == .pomProperties {
                    if let data = try? archive.readData(maximum: MetadataFileKind.pomProperties.maximumSize) {
                        found.append((inner, MetadataFileKind.pomProperties.parse(data, path: inner)))
                    }
                } else if depth < limits.maximumJavaNesting, isJavaArchive(inner), entry.size <= limits.maximumJavaArchiveSize,
                          let nested = try? archive.readData(maximum: limits.maximumJavaArchiveSize) {
                    found += javaPackages(nested, archivePath: inner, depth: depth + 1, limits: limits)
                }
            }
        }
        return found
    }
}

/// One `struct archive *` opened for reading, restricted to the formats asked for and to the
/// compression filters linked into libarchive (no external programs).
final class LibarchiveReader {
    enum Format { case tar, zip }

    let pointer: OpaquePointer

    init(formats: [Format]) throws(LayerReadError) {
        guard let pointer = archive_read_new() else { throw LayerReadError("could not allocate a libarchive reader") }
        self.pointer = pointer
        for enable in [archive_read_support_filter_gzip, archive_read_support_filter_xz, archive_read_support_filter_bzip2,
                       archive_read_support_filter_zstd] {
            let status = enable(pointer)
            // ARCHIVE_WARN means an external program would be used; that filter is then unusable
            // here, which only matters for layers compressed that way.
            if status != ARCHIVE_OK && status != ARCHIVE_WARN { throw LayerReadError("could not enable a decompression filter: \(errorMessage)") }
        }
        for format in formats {
            let status = format == .tar ? archive_read_support_format_tar(pointer) : archive_read_support_format_zip(pointer)
            guard status == ARCHIVE_OK else { throw LayerReadError("could not enable the \(format) reader: \(errorMessage)") }
        }
    }

    deinit { archive_read_free(pointer) }

    var errorMessage: String {
        archive_error_string(pointer).map { String(cString: $0) } ?? "unknown libarchive error"
    }

    /// Uncompressed bytes consumed so far.
    var uncompressedPosition: Int64 { archive_filter_bytes(pointer, 0) }

    struct Entry {
        let pathname: String?
        let isRegularFile: Bool
        /// Any execute permission bit.
        let isExecutable: Bool
        let size: Int
    }

    func nextEntry() throws(LayerReadError) -> Entry? {
        var entry: OpaquePointer?
        switch archive_read_next_header(pointer, &entry) {
        case ARCHIVE_OK, ARCHIVE_WARN:
            guard let entry else { throw LayerReadError("libarchive returned no entry") }
            let name = archive_entry_pathname(entry).map { String(cString: $0) }
                ?? archive_entry_pathname_utf8(entry).map { String(cString: $0) }
            // A hard link entry carries no data of its own; it is not a file to read.
            let regular = UInt32(archive_entry_filetype(entry)) & 0o170000 == 0o100000 && archive_entry_hardlink(entry) == nil
            let size = archive_entry_size_is_set(entry) != 0 ? Int(archive_entry_size(entry)) : 0
            return Entry(pathname: name, isRegularFile: regular, isExecutable: archive_entry_perm(entry) & 0o111 != 0, size: size)
        case ARCHIVE_EOF:
            return nil
        default:
            throw LayerReadError("the layer is damaged or unreadable: \(errorMessage)")
        }
    }

    /// Hands the current entry's data to `body` a chunk at a time until it returns false or the
    /// data ends (holes of sparse entries come as zeros).
    func forEachChunk(_ body: (UnsafeRawBufferPointer) throws(LayerReadError) -> Bool) throws(LayerReadError) {
        let capacity = 64 * 1024
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let count = archive_read_data(pointer, chunk.baseAddress, capacity)
            if count < 0 { throw LayerReadError("the layer is damaged or unreadable: \(errorMessage)") }
            if count == 0 { return }
            if try !body(UnsafeRawBufferPointer(rebasing: chunk[0..<count])) { return }
        }
    }

    /// The current entry's data, or nil when it is longer than `maximum`.
    func readData(maximum: Int) throws(LayerReadError) -> [UInt8]? {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { archive_read_data(pointer, $0.baseAddress, $0.count) }
            if count < 0 { throw LayerReadError("the layer is damaged or unreadable: \(errorMessage)") }
            if count == 0 { return data }
            if data.count + count > maximum { return nil }
            data.append(contentsOf: chunk[0..<count])
        }
    }
}
