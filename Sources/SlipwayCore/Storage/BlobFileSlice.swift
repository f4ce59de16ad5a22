import NIOCore

/// An open, read-only descriptor on a committed blob plus the byte range to send from it, for
/// zero-copy responses (`sendfile(2)` through a NIO `FileRegion`). Blobs are immutable and
/// garbage collection only unlinks them, so the descriptor keeps serving the verified bytes even
/// if the path goes away meanwhile. Whoever holds the slice last closes it; closing twice is
/// harmless, never closing leaks a descriptor.
public final class BlobFileSlice: Sendable {
    public let handle: NIOFileHandle
    public let range: Range<Int64>

    public init(handle: NIOFileHandle, range: Range<Int64>) {
        self.handle = handle
        self.range = range
    }

    public var length: Int64 { range.upperBound - range.lowerBound }

    /// The region of the file a channel writes with `sendfile(2)`.
    public var fileRegion: FileRegion {
        FileRegion(fileHandle: handle, readerIndex: Int(range.lowerBound), endIndex: Int(range.upperBound))
    }

    /// Closes the descriptor; a second call does nothing.
    public func close() {
        try? handle.close()
    }
}
