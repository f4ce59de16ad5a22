import SlipwayCore

/// Usage-log retention, run by the exporter at start-up and then every `retentionInterval`.
extension LogExportStages {
    /// Deletes usage logs (and finished exports, whose files the collector then removes) older
    /// than `logs.retentionDays`; 0 keeps them.
    func applyRetention(now: Int64 = Clock.nowMillis()) async throws {
        let days = config.logs.retentionDays
        guard days > 0 else { return }
        let cutoff = now - Int64(days) * 86_400_000
        let deleted = try await store.deleteUsageLogs(before: cutoff)
        // The export files go with the collector's next byte deletion pass.
        let exports = try await store.deleteLogExports(before: cutoff, tombstones: tombstones, now: now)
        _ = try await jobs.prune(queue: LogExportJob.queue, finishedBefore: cutoff)
        if deleted > 0 || exports > 0 {
            logger.info("applied usage-log retention", metadata: ["deleted": "\(deleted)", "exports": "\(exports)", "days": "\(days)"])
        }
    }
}
