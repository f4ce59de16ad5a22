import SQLKit

/// Something that keeps bytes in blob storage under their digest (OCI blobs, build log
/// archives, log exports). Whoever is about to delete bytes asks every other owner first which
/// of the digests it still references, and keeps those.
public protocol BlobOwner: Sendable {
    /// Names the owner in logs.
    var name: String { get }
    /// The digests among `digests` this owner still references, read on `db` (the caller's
    /// transaction when the answer decides a deletion in it).
    func referenced(among digests: [String], in db: any SQLDatabase) async throws -> Set<String>
}

extension BlobOwner {
    /// Runs `query` for `digests` in chunks of 500 (bind limits) and collects the digests in
    /// the `column` of its rows.
    public static func selectDigests(among digests: [String], column: String, in db: any SQLDatabase,
                                     query: ([String]) -> SQLQueryString) async throws -> Set<String> {
        var found = Set<String>()
        for start in stride(from: 0, to: digests.count, by: 500) {
            let chunk = Array(digests[start..<min(start + 500, digests.count)])
            for row in try await db.raw(query(chunk)).all() {
                found.insert(try row.decode(column: column, as: String.self))
            }
        }
        return found
    }
}
