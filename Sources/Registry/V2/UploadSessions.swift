import SlipwayCore
import Synchronization

/// In-process bookkeeping for uploads in progress: the running hash of each upload (so chunked
/// uploads hash every byte exactly once) and a per-upload "one writer at a time" guard.
/// Losing this state (restart, another replica) is safe: the digest is then recomputed from
/// storage when the upload completes.
public final class UploadSessions: Sendable {
    private struct Entry {
        var digester: StreamingDigester?
        var offset: Int64
        var busy: Bool
    }
    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    /// Claims the upload for one request. Returns the cached hash state if it is valid for
    /// `offset`, or throws when another request is writing to the same upload.
    public func claim(_ id: String, offset: Int64) throws(RegistryError) -> StreamingDigester? {
        let result: Result<StreamingDigester?, RegistryError> = entries.withLock { map in
            var entry = map[id] ?? Entry(digester: offset == 0 ? StreamingDigester() : nil, offset: offset, busy: false)
            if entry.busy {
                return .failure(RegistryError(.blobUploadInvalid, "another request is currently writing to this upload", status: .rangeNotSatisfiable))
            }
            entry.busy = true
            if entry.offset != offset { entry.digester = nil }
            map[id] = entry
            return .success(entry.digester)
        }
        return try result.get()
    }

    /// Releases the claim, recording the hash state after `offset` bytes (nil = unknown).
    public func release(_ id: String, digester: StreamingDigester?, offset: Int64) {
        entries.withLock { map in
            map[id] = Entry(digester: digester, offset: offset, busy: false)
        }
    }

    public func forget(_ id: String) {
        _ = entries.withLock { $0.removeValue(forKey: id) }
    }
}
