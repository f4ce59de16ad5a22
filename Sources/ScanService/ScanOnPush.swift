import Registry
import SlipwayCore
import SQLKit

/// Queues a scan for every manifest the registry stores, in the storing transaction (Registry's
/// `ManifestStoredObserver`): a pushed manifest and its queued scan commit together, and the
/// push never waits for the scan. An index is recorded as unsupported (its child manifests are
/// pushed, and scanned, each on its own).
struct ScanOnPush: ManifestStoredObserver {
    let jobs: any JobQueueDriver

    func manifestStored(_ notice: StoredManifestNotice, in db: any SQLDatabase) async throws {
        if notice.document.isIndex {
            try await ScanStore.recordUnsupported(digest: notice.digest, repositoryID: notice.repositoryID,
                                                  reason: "an image index: each of its manifests is scanned on its own", in: db)
            return
        }
        _ = try await ScanStore.enqueue(digest: notice.digest, repositoryID: notice.repositoryID, jobs: jobs, in: db)
    }
}
