import Foundation
import Logging
import NIOPosix
import Scanner
import ServiceLifecycle

/// The scan role of `slipway worker` (`--roles scan`): leases `scan` jobs from the server,
/// downloads each layer the server's layer index lacks into a file of its own (streamed, never
/// whole in memory), indexes it with `LayerReader` on NIO's thread pool (libarchive blocks),
/// reports the contents, and completes; the server matches and stores the report. Heartbeats
/// keep the claim while a large layer is read; a refused heartbeat (the claim expired and
/// another consumer may have the job) drops the scan.
///
/// Graceful shutdown (SIGTERM): leasing stops at once; scans under way finish (a layer read is
/// bounded by `LayerLimits`). Cancelled outright, a scan under way is reported unfinished, so
/// the server retries it after its backoff instead of waiting out the claim.
public struct ScanAgent: Service {
    let client: OrchestratorClient
    let concurrency: Int
    let workDirectory: URL
    let limits: LayerLimits
    let threadPool: NIOThreadPool
    let logger: Logger

    public init(client: OrchestratorClient, concurrency: Int, workDirectory: URL, limits: LayerLimits = LayerLimits(),
                threadPool: NIOThreadPool = .singleton, logger: Logger) {
        self.client = client
        self.concurrency = max(1, concurrency)
        self.workDirectory = workDirectory
        self.limits = limits
        self.threadPool = threadPool
        self.logger = logger
    }

    public func run() async throws {
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
        await withDiscardingTaskGroup { group in
            for slot in 0..<concurrency {
                group.addTask { await leaseLoop(slot: slot) }
            }
        }
    }

    private func leaseLoop(slot: Int) async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                // Only the wait for work stops at a graceful shutdown; a leased scan finishes.
                guard let lease = try await cancelWhenGracefulShutdown({ try await client.leaseScan() }) else { continue }
                await scan(lease)
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                logger.warning("scan lease failed; retrying", metadata: ["error": "\(error)", "slot": "\(slot)"])
                try? await Task.sleep(for: .seconds(2))
            }
        }
    }

    /// Indexes the leased layers while heart-beating, and completes. Never throws.
    func scan(_ lease: ScanLease) async {
        let meta: Logger.Metadata = ["job.id": "\(lease.jobID)", "manifest": "\(lease.manifest)"]
        logger.info("scan leased", metadata: meta.merging(["layers": "\(lease.layers.count)"]) { $1 })
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await indexAndComplete(lease) }
                group.addTask {
                    while true {
                        try await Task.sleep(for: .seconds(lease.heartbeatIntervalSeconds))
                        do {
                            try await client.heartbeatScan(lease)
                        } catch let lost as ScanLeaseLost {
                            throw lost
                        } catch is CancellationError {
                            throw CancellationError()
                        } catch {
                            // One missed beat is not fatal: the claim outlives several intervals.
                            logger.warning("scan heartbeat failed", metadata: meta.merging(["error": "\(error)"]) { $1 })
                        }
                    }
                }
                // The scan's end (or a lost lease) ends the heartbeats.
                try await group.next()
                group.cancelAll()
            }
            logger.info("scan reported", metadata: meta)
        } catch let lost as ScanLeaseLost {
            logger.warning("scan dropped", metadata: meta.merging(["error": "\(lost)"]) { $1 })
        } catch {
            logger.warning("scan not finished; the server retries it", metadata: meta.merging(["error": "\(error)"]) { $1 })
            // Reported from a task of its own: this one may be the cancelled one.
            let client = self.client
            _ = await Task { try? await client.completeScan(lease, ScanCompletion(error: "\(error)")) }.value
        }
    }

    private func indexAndComplete(_ lease: ScanLease) async throws {
        for layer in lease.layers {
            let result = try await index(lease, layer)
            try await client.reportLayer(lease, layer, result)
            // The image fails with this layer's reason; the layers above it are not needed.
            if result.failure != nil { break }
        }
        try await client.completeScan(lease, ScanCompletion())
    }

    /// Downloads one layer into a private file and reads it.
    private func index(_ lease: ScanLease, _ layer: ScanLease.Layer) async throws -> ScanLayerResult {
        let file = workDirectory.appendingPathComponent("layer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try await client.downloadLayer(lease, layer, to: file)
        let (path, limits) = (file.path, self.limits)
        do {
            return .indexed(try await threadPool.runIfActive { try LayerReader.read(path: path, limits: limits) })
        } catch let error as LayerReadError {
            return .failed(error.message)
        }
    }
}
