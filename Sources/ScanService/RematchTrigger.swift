// Notices that imported vulnerability data changed (its generation moved), whoever imported it
// (`slipway admin vulns import` in another process, the feed updater, another replica), and
// queues one `scan-rematch` job per change: the generation is advanced and the job pushed in
// one transaction, so replicas that notice the same change queue it once.

import Logging
import Scanner
import ServiceLifecycle
import SlipwayCore

struct RematchTrigger: Service {
    let database: any Database
    let store: ScanStore
    let vulnerabilities: VulnerabilityStore
    let jobs: any JobQueueDriver
    let metrics: ScanMetrics
    let interval: Duration
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await check()
                try await Task.sleep(for: interval)
            }
        }
    }

    /// Queues a re-match when the data changed since the last one was queued. True when it did.
    @discardableResult
    func check() async -> Bool {
        do {
            if let counts = try? await store.counts() { metrics.queueDepth.record(counts[.queued] ?? 0) }
            let generation = try await vulnerabilities.dataGeneration()
            let jobs = self.jobs
            let queued = try await database.transaction { db in
                guard try await ScanStore.advanceGeneration(to: generation, in: db) else { return false }
                _ = try await jobs.push(try JobRequest(queue: ScanQueues.rematch, encoding: RematchJob(generation: generation),
                                                       orderingKey: "rematch", maxAttempts: 5), in: db)
                return true
            }
            if queued { logger.info("vulnerability data changed: re-match queued", metadata: ["generation": "\(generation)"]) }
            return queued
        } catch {
            logger.error("checking vulnerability data for changes failed", metadata: ["error": "\(String(reflecting: error))"])
            return false
        }
    }
}
