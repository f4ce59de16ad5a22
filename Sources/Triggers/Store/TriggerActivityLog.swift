import Registry
import SlipwayCore

/// Writes trigger activity (what each webhook or manual run led to) through a group commit:
/// entries recorded while an earlier write is in flight go into the next transaction together,
/// so a burst of webhooks does not queue one write per webhook behind SQLite's single writer.
struct TriggerActivityLog: Sendable {
    struct Entry: Sendable {
        let triggerID: Int64
        /// The delivery row claimed for this webhook, filled in instead of inserting a new one.
        let claimedRow: Int64?
        let activity: TriggerActivity
    }

    let store: TriggerStore
    private let batches = GroupCommit<Entry, Void>()

    init(store: TriggerStore) {
        self.store = store
    }

    func record(triggerID: Int64, claimedRow: Int64?, _ activity: TriggerActivity) async throws {
        try await batches.submit(Entry(triggerID: triggerID, claimedRow: claimedRow, activity: activity)) { [store] entries in
            try await store.recordTriggerActivities(entries)
            return entries.map { _ in () }
        }
    }
}
