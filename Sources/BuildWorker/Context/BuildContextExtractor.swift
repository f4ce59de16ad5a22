// Turns an uploaded build context (a bare Dockerfile, or a tar/tar.gz/tar.xz/tar.bz2/zip archive)
// into a directory the builder can use. The format is detected from the content, never the name.
//
// Safety rules, each enforced while streaming so a violation stops the extraction at once and
// deletes what was written:
//   - entry names are relative and contain no `..` component (refused, not rewritten);
//   - only regular files, directories, symbolic links and hard links: no devices, FIFOs, sockets;
//   - a symbolic link's target is relative, uses `..` only as a leading prefix, and climbs no
//     higher than the link's own directory depth (see `ArchivePath.symlinkVerdict`);
//   - a hard link points at a regular file extracted earlier, looked up without following links;
//   - nothing is written through a symbolic link: every parent is opened with O_NOFOLLOW;
//   - set-user-ID, set-group-ID and sticky bits, ownership, xattrs and ACLs are dropped;
//   - caps on uncompressed bytes (counted as data is decompressed, so a zip bomb stops at the cap),
//     entry count and entry-name length.
//
// libarchive is a blocking C library: all of this runs on a `NIOThreadPool` thread, never on
// Swift's cooperative pool.

import Foundation
import Synchronization
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Caps applied while extracting an upload. Every field has a default suitable for production.
public struct ExtractionLimits: Sendable, Equatable {
    /// Total uncompressed size of all regular files, in bytes.
    public var maxTotalBytes: Int
    /// Number of archive entries of any kind (directories and links included).
    public var maxEntryCount: Int
    /// Length of one entry name (and hard link target) in bytes, as stored in the archive.
    public var maxPathLength: Int
    /// Size of an upload accepted as a bare Dockerfile.
    public var maxDockerfileBytes: Int

    public init(maxTotalBytes: Int = 1 << 30,
                maxEntryCount: Int = 100_000,
                maxPathLength: Int = 4096,
                maxDockerfileBytes: Int = 1 << 20) {
        self.maxTotalBytes = maxTotalBytes
        self.maxEntryCount = maxEntryCount
        self.maxPathLength = maxPathLength
        self.maxDockerfileBytes = maxDockerfileBytes
    }
}

/// What the upload turned out to be, detected from its content.
public enum BuildContextFormat: String, Sendable, Equatable, CaseIterable {
    case dockerfile
    case tar
    case tarGzip = "tar.gz"
    case tarXz = "tar.xz"
    case tarBzip2 = "tar.bz2"
    case zip
}

/// A build context ready for the builder.
public struct ExtractedContext: Sendable, Equatable {
    /// The directory the upload was extracted into.
    public var directory: URL
    /// The Dockerfile inside `directory`, checked to be a regular file.
    public var dockerfile: URL
    public var format: BuildContextFormat
    /// Archive entries processed (1 for a bare Dockerfile).
    public var entryCount: Int
    /// Uncompressed bytes written.
    public var totalBytes: Int
}

/// Extracts uploaded build contexts safely. Cheap to copy; holds only the thread pool it runs on.
public struct BuildContextExtractor: Sendable {
    private let threadPool: NIOThreadPool

    public init(threadPool: NIOThreadPool = .singleton) {
        self.threadPool = threadPool
    }

    /// Extracts `upload` into `directory`, which must not exist yet or be empty.
    ///
    /// - Parameters:
    ///   - dockerfilePath: where the Dockerfile must be, relative to the root of the upload
    ///     (a leading `/` is accepted, as in Quay's `dockerfile_path`). A bare Dockerfile upload is
    ///     written to this path.
    /// - Throws: `BuildContextError`; on any error nothing extracted is left behind.
    public func extract(from upload: URL,
                        into directory: URL,
                        dockerfilePath: String = "Dockerfile",
                        limits: ExtractionLimits = ExtractionLimits()) async throws(BuildContextError) -> ExtractedContext {
        let cancellation = CancellationFlag()
        do {
            return try await withTaskCancellationHandler {
                try await threadPool.runIfActive {
                    try Extraction(upload: upload.path, directory: directory, dockerfilePath: dockerfilePath,
                                   limits: limits, cancellation: cancellation).run()
                }
            } onCancel: {
                cancellation.cancel()
            }
        } catch let error as BuildContextError {
            throw error
        } catch is CancellationError {
            throw BuildContextError(.cancelled, "the build context extraction was cancelled")
        } catch {
            throw BuildContextError(.io, "could not run the build context extraction: \(error)")
        }
    }
}

/// Set from the cancellation handler, polled by the blocking loop between chunks.
private final class CancellationFlag: Sendable {
    private let cancelled = Atomic<Bool>(false)

    func cancel() {
        cancelled.store(true, ordering: .releasing)
    }

    var isCancelled: Bool {
        cancelled.load(ordering: .acquiring)
    }
}

/// One blocking extraction. Runs on a thread-pool thread from start to finish.
private struct Extraction {
    let upload: String
    let directory: URL
    let dockerfilePath: String
    let limits: ExtractionLimits
    let cancellation: CancellationFlag

    private static let chunkSize = 64 * 1024

    func run() throws(BuildContextError) -> ExtractedContext {
        let locale = UTF8ThreadLocale()
        defer { locale.restore() }
        guard let dockerfile = ArchivePath.dockerfile(dockerfilePath) else {
            throw BuildContextError(.invalidDockerfilePath,
                                    "the Dockerfile path '\(displayName(dockerfilePath))' does not name a file inside the build context")
        }
        var info = stat()
        guard stat(upload, &info) == 0 else {
            throw .system("read the uploaded build context", entry: nil, errno: errno)
        }
        guard info.st_size > 0 else {
            throw BuildContextError(.emptyUpload, "the uploaded build context is empty")
        }
        try checkCancellation()

        let destination = try ContextDirectory(preparing: directory.path)
        do {
            let (format, entryCount, totalBytes) = try populate(destination, dockerfile: dockerfile)
            return ExtractedContext(directory: directory,
                                    dockerfile: directory.appendingPathComponent(dockerfile.description),
                                    format: format, entryCount: entryCount, totalBytes: totalBytes)
        } catch {
            destination.discard()
            throw error
        }
    }

    private func checkCancellation() throws(BuildContextError) {
        if cancellation.isCancelled {
            throw BuildContextError(.cancelled, "the build context extraction was cancelled")
        }
    }

    private func populate(_ destination: ContextDirectory, dockerfile: ArchivePath) throws(BuildContextError)
        -> (BuildContextFormat, Int, Int) {
        guard let reader = try ArchiveReader.open(path: upload) else {
            let compression = ArchiveReader.compression(ofFileAt: upload)
            guard compression == .none else {
                throw BuildContextError(.unsupportedUpload,
                                        "the upload is \(compression) compressed but does not contain a tar archive")
            }
            let bytes = try writeBareDockerfile(to: destination, at: dockerfile)
            return (.dockerfile, 1, bytes)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)
        defer { buffer.deallocate() }

        var format: BuildContextFormat?
        var entryCount = 0
        var totalBytes = 0
        var dockerfileCandidates: [String] = []

        readLoop: while true {
            try checkCancellation()
            let entry: ArchiveEntryView
            switch try reader.next() {
            case .end:
                break readLoop
            case .entry(let next):
                entry = next
            }
            if format == nil {
                format = try Self.contextFormat(reader.format, reader.compression)
            }
            entryCount += 1
            guard entryCount <= limits.maxEntryCount else {
                throw BuildContextError(.limitExceeded,
                                        "the archive has more than \(limits.maxEntryCount) entries, the limit for a build context")
            }
            let name = try extract(entry, from: reader, number: entryCount, into: destination, buffer: buffer, totalBytes: &totalBytes)
            if let name, dockerfileCandidates.count < 5, Self.looksLikeDockerfile(name) {
                dockerfileCandidates.append(name.description)
            }
        }

        guard destination.isRegularFile(dockerfile) else {
            var message = "the uploaded archive has no Dockerfile at '\(dockerfile)'"
            if !dockerfileCandidates.isEmpty {
                message += " (it contains \(dockerfileCandidates.map { "'\(displayName($0))'" }.joined(separator: ", "));"
                    + " set the Dockerfile path or subdirectory to use one of them)"
            }
            throw BuildContextError(.missingDockerfile, message)
        }
        return (format ?? .tar, entryCount, totalBytes)
    }

    private static func contextFormat(_ format: ArchiveReader.Format,
                                      _ compression: ArchiveReader.Compression) throws(BuildContextError) -> BuildContextFormat {
        switch (format, compression) {
        case (.tar, .none): return .tar
        case (.tar, .gzip): return .tarGzip
        case (.tar, .xz): return .tarXz
        case (.tar, .bzip2): return .tarBzip2
        case (.zip, .none): return .zip
        default:
            throw BuildContextError(.unsupportedUpload,
                                    "unsupported archive (\(format), \(compression) compression); upload a Dockerfile, or a tar, tar.gz, tar.xz, tar.bz2 or zip archive")
        }
    }

    private static func looksLikeDockerfile(_ path: ArchivePath) -> Bool {
        guard let name = path.name?.lowercased() else { return false }
        return name == "dockerfile" || name.hasPrefix("dockerfile.") || name.hasSuffix(".dockerfile")
            || name == "containerfile"
    }

    // MARK: - One entry

    /// Extracts one entry; returns its normalised path (nil for the root directory entry).
    private func extract(_ entry: ArchiveEntryView, from reader: ArchiveReader, number: Int, into destination: ContextDirectory,
                         buffer: UnsafeMutableRawBufferPointer, totalBytes: inout Int) throws(BuildContextError) -> ArchivePath? {
        guard let raw = entry.pathname else {
            throw BuildContextError(.corruptArchive, "archive entry #\(number) has a name that cannot be decoded")
        }
        let path = try normalise(raw, entry: raw)

        if let hardlink = entry.hardlinkTarget {
            let target: ArchivePath
            switch ArchivePath.normalising(hardlink, maxLength: limits.maxPathLength) {
            case .success(let normalised): target = normalised
            case .failure(.tooLong(let limit)):
                throw .entry(raw, .limitExceeded, "is a hard link whose target is longer than \(limit) bytes, the limit for a build context")
            case .failure:
                throw .entry(raw, .linkEscapesContext,
                             "is a hard link to '\(displayName(hardlink))', which is outside the build context")
            }
            try destination.createHardLink(path, to: target, entry: raw, targetName: hardlink)
            return path
        }

        switch entry.kind {
        case .directory:
            // Owner rwx is forced so later entries can be created inside and cleanup can recurse.
            try destination.createDirectory(path, mode: mode_t(entry.permissions & 0o777 | 0o700), entry: raw)
        case .regular:
            try writeFile(entry, from: reader, raw: raw, path: path, into: destination, buffer: buffer, totalBytes: &totalBytes)
        case .symlink:
            let target = entry.symlinkTarget ?? ""
            switch path.symlinkVerdict(target: target) {
            case .allowed:
                try destination.createSymlink(path, target: target, entry: raw)
            case .empty:
                throw .entry(raw, .linkEscapesContext, "is a symbolic link with an empty target")
            case .absolute:
                throw .entry(raw, .linkEscapesContext,
                             "is a symbolic link to '\(displayName(target))', which points outside the build context (absolute link targets are not allowed)")
            case .escapes:
                throw .entry(raw, .linkEscapesContext,
                             "is a symbolic link to '\(displayName(target))', which escapes the build context")
            case .parentAfterName:
                throw .entry(raw, .linkEscapesContext,
                             "is a symbolic link to '\(displayName(target))'; '..' is only allowed at the start of a link target, so where it points can be checked")
            }
        case .characterDevice:
            throw Self.specialFile(raw, "a character device")
        case .blockDevice:
            throw Self.specialFile(raw, "a block device")
        case .fifo:
            throw Self.specialFile(raw, "a FIFO")
        case .socket:
            throw Self.specialFile(raw, "a socket")
        case .unknown(let type):
            throw .entry(raw, .unsupportedEntryType, "has an unsupported file type (0o\(String(type, radix: 8)))")
        }
        return path.isRoot ? nil : path
    }

    private static func specialFile(_ raw: String, _ what: String) -> BuildContextError {
        .entry(raw, .unsupportedEntryType,
               "is \(what); device files, FIFOs and sockets are not allowed in a build context")
    }

    private func normalise(_ raw: String, entry: String) throws(BuildContextError) -> ArchivePath {
        switch ArchivePath.normalising(raw, maxLength: limits.maxPathLength) {
        case .success(let path):
            return path
        case .failure(.absolute):
            throw .entry(entry, .pathEscapesContext,
                         "has an absolute path; paths in a build context archive must be relative")
        case .failure(.parentComponent):
            throw .entry(entry, .pathEscapesContext, "escapes the build context ('..' is not allowed in archive paths)")
        case .failure(.tooLong(let limit)):
            throw BuildContextError(.limitExceeded, entry: entry,
                                    "archive entry '\(displayName(String(entry.prefix(80))))…' has a name longer than \(limit) bytes, the limit for a build context")
        case .failure(.empty):
            throw .entry(entry, .corruptArchive, "has an empty name")
        }
    }

    private func sizeLimitError(_ raw: String) -> BuildContextError {
        BuildContextError(.limitExceeded, entry: raw,
                          "the build context is larger than the limit of \(formatByteCount(limits.maxTotalBytes)) uncompressed (stopped at archive entry '\(displayName(raw))')")
    }

    private func writeFile(_ entry: ArchiveEntryView, from reader: ArchiveReader, raw: String, path: ArchivePath, into destination: ContextDirectory,
                           buffer: UnsafeMutableRawBufferPointer, totalBytes: inout Int) throws(BuildContextError) {
        // Refuse up front when the archive declares the size; the streaming count below catches
        // archives that lie or do not say (streamed zip entries).
        if let declared = entry.declaredSize, declared > limits.maxTotalBytes - totalBytes {
            throw sizeLimitError(raw)
        }
        let fd = try destination.createFile(path, entry: raw)
        defer { close(fd) }
        while true {
            try checkCancellation()
            let count = try reader.read(into: buffer, entry: raw)
            if count == 0 { break }
            totalBytes += count
            guard totalBytes <= limits.maxTotalBytes else { throw sizeLimitError(raw) }
            try Self.writeAll(fd, UnsafeRawBufferPointer(rebasing: buffer[0..<count]), entry: raw)
        }
        // Permission bits only: set-user-ID, set-group-ID and sticky are dropped, and the file
        // stays owned by the worker's user whatever the archive says.
        guard fchmod(fd, mode_t(entry.permissions & 0o777)) == 0 else {
            throw .system("set permissions", entry: raw, errno: errno)
        }
        if let mtime = entry.modificationTime {
            var times = [timespec(tv_sec: mtime.seconds, tv_nsec: mtime.nanoseconds),
                         timespec(tv_sec: mtime.seconds, tv_nsec: mtime.nanoseconds)]
            _ = futimens(fd, &times)
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, entry: String) throws(BuildContextError) {
        var offset = 0
        while offset < bytes.count {
            let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw .system("write", entry: entry, errno: errno)
            }
            offset += written
        }
    }

    // MARK: - Bare Dockerfile

    /// The upload is not an archive. Accept it as a Dockerfile only if it reads as text: a binary
    /// blob handed to the builder would fail later with a far less helpful message.
    private func writeBareDockerfile(to destination: ContextDirectory, at path: ArchivePath) throws(BuildContextError) -> Int {
        let unsupported = BuildContextError(
            .unsupportedUpload,
            "the upload is neither a supported archive (tar, tar.gz, tar.xz, tar.bz2 or zip) nor a text Dockerfile")
        let cap = min(limits.maxDockerfileBytes, limits.maxTotalBytes)
        let fd = open(upload, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .system("read the uploaded build context", entry: nil, errno: errno) }
        defer { close(fd) }

        var bytes = [UInt8]()
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)
        defer { chunk.deallocate() }
        var truncated = false
        while true {
            let count = read(fd, chunk.baseAddress, min(Self.chunkSize, cap + 1 - bytes.count))
            if count < 0 {
                if errno == EINTR { continue }
                throw .system("read the uploaded build context", entry: nil, errno: errno)
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > cap {
                truncated = true
                bytes.removeLast(bytes.count - cap)
                break
            }
        }
        guard Self.isText(bytes, mayBeTruncated: truncated) else { throw unsupported }
        guard !truncated else {
            throw BuildContextError(.limitExceeded,
                                    "the uploaded Dockerfile is larger than \(formatByteCount(cap)), the limit for a bare Dockerfile upload")
        }

        let out = try destination.createFile(path, entry: path.description)
        defer { close(out) }
        let written = bytes.withUnsafeBytes { buffer in
            Result { () throws(BuildContextError) in try Self.writeAll(out, buffer, entry: path.description) }
        }
        try written.get()
        guard fchmod(out, 0o644) == 0 else {
            throw .system("set permissions", entry: path.description, errno: errno)
        }
        return bytes.count
    }

    /// UTF-8 without NULs or control characters other than tab, newline, carriage return and form
    /// feed. When the read stopped at the cap, a multi-byte character cut in half at the end is
    /// not held against the data.
    static func isText(_ bytes: [UInt8], mayBeTruncated: Bool) -> Bool {
        if bytes.contains(where: { ($0 < 0x20 && ![0x09, 0x0a, 0x0d, 0x0c].contains($0)) || $0 == 0x7f }) {
            return false
        }
        var checked = bytes[...]
        if mayBeTruncated {
            // Drop an incomplete trailing sequence (at most 3 bytes).
            var trailing = 0
            while trailing < 3, trailing < checked.count, checked[checked.endIndex - 1 - trailing] & 0xc0 == 0x80 {
                trailing += 1
            }
            if trailing < checked.count, checked[checked.endIndex - 1 - trailing] >= 0xc0 {
                checked = checked.dropLast(trailing + 1)
            }
        }
        return String(validating: checked, as: UTF8.self) != nil
    }
}
