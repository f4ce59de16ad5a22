#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a build context could not be prepared. The message is written for the person reading the
/// build log: it names the offending archive entry and the rule it broke.
public struct BuildContextError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// The upload is empty.
        case emptyUpload = "EMPTY_UPLOAD"
        /// Neither a supported archive nor a text Dockerfile.
        case unsupportedUpload = "UNSUPPORTED_UPLOAD"
        /// The archive is damaged or uses something libarchive cannot read (e.g. encryption).
        case corruptArchive = "CORRUPT_ARCHIVE"
        /// An entry name is absolute or contains `..`.
        case pathEscapesContext = "PATH_ESCAPES_CONTEXT"
        /// A symbolic or hard link points outside the context, or at something it may not.
        case linkEscapesContext = "LINK_ESCAPES_CONTEXT"
        /// An entry would be written through a symbolic link or over a directory.
        case unsafeEntryLocation = "UNSAFE_ENTRY_LOCATION"
        /// Device node, FIFO, socket or an unknown entry type.
        case unsupportedEntryType = "UNSUPPORTED_ENTRY_TYPE"
        /// A cap from `ExtractionLimits` was exceeded.
        case limitExceeded = "LIMIT_EXCEEDED"
        /// No Dockerfile at the configured path.
        case missingDockerfile = "MISSING_DOCKERFILE"
        /// The configured Dockerfile path itself is unusable.
        case invalidDockerfilePath = "INVALID_DOCKERFILE_PATH"
        /// The destination directory exists and is not empty (or is not a directory).
        case destinationNotEmpty = "DESTINATION_NOT_EMPTY"
        /// The extraction was cancelled.
        case cancelled = "CANCELLED"
        /// A file-system call failed for a reason that is not the archive's fault.
        case io = "IO"
    }

    public let code: Code
    /// The archive entry the error is about, as spelled in the archive.
    public let entry: String?
    public let message: String

    public init(_ code: Code, entry: String? = nil, _ message: String) {
        self.code = code
        self.entry = entry
        self.message = message
    }

    public var description: String { message }
}

extension BuildContextError {
    static func entry(_ entry: String, _ code: Code, _ rule: String) -> BuildContextError {
        BuildContextError(code, entry: entry, "archive entry '\(displayName(entry))' \(rule)")
    }

    static func system(_ what: String, entry: String?, errno code: Int32) -> BuildContextError {
        let reason = String(cString: strerror(code))
        if let entry {
            return BuildContextError(.io, entry: entry, "could not \(what) for archive entry '\(displayName(entry))': \(reason)")
        }
        return BuildContextError(.io, "could not \(what): \(reason)")
    }
}

/// Byte counts in messages: "10 MiB", not "10485760".
func formatByteCount(_ bytes: Int) -> String {
    let units: [(size: Int, name: String)] = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
    for unit in units where bytes >= unit.size {
        if bytes % unit.size == 0 { return "\(bytes / unit.size) \(unit.name)" }
        let tenths = Int((Double(bytes) * 10 / Double(unit.size)).rounded())
        return "\(tenths / 10).\(tenths % 10) \(unit.name)"
    }
    return bytes == 1 ? "1 byte" : "\(bytes) bytes"
}
