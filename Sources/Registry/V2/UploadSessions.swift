import SlipwayCore
import Synchronization

/// The running hash of each upload this process wrote to last, so chunked uploads hash every
/// byte exactly once. Who may write is decided by the upload's row (`claimUpload`), not here:
/// a cached hash is handed out only for the generation it hashed, so bytes another request or
/// replica wrote since are never vouched for by a stale hash. Losing this state (restart,
/// another replica) is safe: the digest is then recomputed from storage when the upload
/// completes.
public final class UploadSessions: Sendable {
    private struct Entry {
        var digester: StreamingDigester
        var offset: Int64
        var generation: String
    }
    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    /// The hash state of the upload's first `offset` bytes if this process hashed exactly the
    /// write `generation` names; a fresh one for an empty upload; nil when unknown.
    public func digester(_ id: String, offset: Int64, generation: String) -> StreamingDigester? {
        if offset == 0 { return StreamingDigester() }
        return entries.withLock { map in
            guard let entry = map[id], entry.offset == offset, entry.generation == generation else { return nil }
            return entry.digester
        }
    }

    /// Records the hash state after a completed write (`digester` nil: unknown).
    public func record(_ id: String, digester: StreamingDigester?, offset: Int64, generation: String) {
        entries.withLock { map in
            if let digester {
                map[id] = Entry(digester: digester, offset: offset, generation: generation)
            } else {
                map.removeValue(forKey: id)
            }
        }
    }

    public func forget(_ id: String) {
        _ = entries.withLock { $0.removeValue(forKey: id) }
    }
}
