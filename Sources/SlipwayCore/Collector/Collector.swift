import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Runs the modules' collector passes, online, while pushes continue: every `interval` one
/// round of every pass in stage order (a pass in progress finishes; the wait between rounds
/// ends at once on shutdown). `slipway admin gc` calls `runPass` on the same passes.
public final class Collector: Service, Sendable {
    public let passes: [any CollectorPass]
    public let settings: CollectorSettings
    let logger: Logger
    private let rounds = Counter(label: "slipway_gc_passes_total")
    private let deletedBlobs = Counter(label: "slipway_gc_blobs_deleted_total")
    private let lastRound = Mutex<Int64>(0)

    public init(passes: [any CollectorPass], settings: CollectorSettings, logger: Logger) {
        // Stable: passes of one stage keep the order they were given in.
        self.passes = passes.enumerated().sorted { ($0.element.stage, $0.offset) < ($1.element.stage, $1.offset) }.map(\.element)
        self.settings = settings
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let r = try await self.runPass()
                    if !r.isEmpty {
                        self.logger.info("garbage collection pass", metadata: [
                            "tags": "\(r.tags)", "manifests": "\(r.manifests)", "blobs": "\(r.blobsDeleted)", "uploads": "\(r.uploads)"])
                    }
                } catch is CancellationError {
                    return
                } catch {
                    self.logger.error("garbage collection pass failed", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: self.settings.interval)
            }
        }
    }

    /// One round: every pass once, in stage order. A failing pass ends the round (the next
    /// round starts over; every pass re-checks what it removes).
    @discardableResult
    public func runPass(now: Int64 = Clock.nowMillis()) async throws -> CollectorReport {
        // Each round's time is later than the last one's: what a round lets go of at its `now`
        // is due in the next round (`BlobTombstones.due`), even within one millisecond.
        let now = lastRound.withLock { last in
            last = max(now, last + 1)
            return last
        }
        var report = CollectorReport()
        for pass in passes {
            report.add(try await pass.run(now: now, settings: settings))
        }
        rounds.increment()
        deletedBlobs.increment(by: report.blobsDeleted)
        return report
    }
}
