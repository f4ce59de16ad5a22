// The `scan` job: a manifest's layers indexed (each digest once, ever), folded into the image's
// package list with AddedBy, matched against the loaded vulnerability data, and stored with the
// job's completion. A layer that cannot be indexed fails the manifest with its reason and the
// queue goes on; storage trouble is retried with the queue's backoff.

import Foundation
import Logging
import Registry
import Scanner
import SlipwayCore

struct ManifestScanner: Sendable {
    let store: ScanStore
    let registry: MetadataStore
    let vulnerabilities: VulnerabilityStore
    let layers: LayerIndexer
    let metrics: ScanMetrics
    let logger: Logger

    /// Layer media types the indexer reads (tar, optionally compressed; Docker and OCI).
    static func isImageLayer(_ mediaType: String) -> Bool {
        mediaType.hasPrefix("application/vnd.oci.image.layer.") || mediaType.hasPrefix("application/vnd.docker.image.rootfs.")
    }

    func handle(_ job: QueuedJob) async throws -> JobOutcome {
        let payload = try job.decodePayload(ScanJob.self)
        let digest = payload.manifest
        let started = ContinuousClock.now
        let result = try await scan(payload)
        var meta: Logger.Metadata = ["manifest": "\(digest)", "status": "\(result.status.rawValue)"]
        if let reason = result.reason { meta["reason"] = "\(reason)" }
        logger.info("manifest scanned", metadata: meta.merging(["seconds": "\(started.duration(to: .now))"]) { $1 })
        switch result.status {
        case .scanned: metrics.manifestsScanned.increment()
        case .failed: metrics.manifestsFailed.increment()
        case .unsupported: metrics.manifestsUnsupported.increment()
        case .queued: break
        }
        let queuedAt = try await store.manifest(digest)?.queuedAt
        if let queuedAt { metrics.latency.recordMilliseconds(max(0, Clock.nowMillis() - queuedAt)) }
        return .completed { db in
            try await ScanStore.finish(digest: digest, status: result.status, reason: result.reason, index: result.index,
                                       report: result.report, generation: result.generation, in: db)
        }
    }

    /// Marks the job's manifest failed (in the transaction that gives the job up).
    static func recordFailure(of job: QueuedJob, _ error: String) -> JobTransactionBody? {
        guard let payload = try? job.decodePayload(ScanJob.self) else { return nil }
        return { db in
            try await ScanStore.finish(digest: payload.manifest, status: .failed, reason: "the scan kept failing: \(error)", index: nil,
                                       report: nil, generation: nil, in: db)
        }
    }

    struct Result: Sendable {
        var status: ScanStatus
        var reason: String?
        var index: ImageIndex?
        var report: VulnerabilityReport?
        var generation: String?
    }

    func scan(_ job: ScanJob) async throws -> Result {
        guard let digest = try? Digest(parsing: job.manifest) else {
            return Result(status: .failed, reason: "not a manifest digest: \(job.manifest)")
        }
        guard let stored = try await registry.manifest(repositoryID: job.repositoryID, digest: digest) else {
            return Result(status: .failed, reason: "the manifest was deleted before it was scanned")
        }
        let document: ManifestDocument
        do {
            document = try ManifestDocument(bytes: Array(stored.content.utf8), contentType: stored.mediaType)
        } catch {
            return Result(status: .failed, reason: "the manifest cannot be read: \(error)")
        }
        if document.isIndex {
            return Result(status: .unsupported, reason: "an image index: each of its manifests is scanned on its own")
        }
        guard !document.layers.isEmpty, document.layers.allSatisfy({ Self.isImageLayer($0.mediaType) }) else {
            let types = Set(document.layers.map(\.mediaType)).sorted().joined(separator: ", ")
            return Result(status: .unsupported, reason: "not a container image (layers: \(types.isEmpty ? "none" : types))")
        }
        var contents: [(digest: String, contents: LayerContents)] = []
        for layer in document.layers {
            switch try await layers.record(of: layer.digest) {
            case .indexed(let c): contents.append((layer.digest.description, c))
            case .failed(let reason): return Result(status: .failed, reason: "layer \(layer.digest): \(reason)")
            }
        }
        let index = ImageIndex(layers: contents)
        // The generation is read before the advisories: a report is never marked newer than
        // the data it was matched with.
        var generation = try await vulnerabilities.dataGeneration()
        var report = Matcher.report(manifest: digest.description, index: index, advisories: try await vulnerabilities.advisories(for: index))
        // Data imported while matching: match again (the re-match it queues may already have
        // passed this manifest by, which was not `scanned` yet).
        let after = try await vulnerabilities.dataGeneration()
        if after != generation {
            generation = after
            report = Matcher.report(manifest: digest.description, index: index, advisories: try await vulnerabilities.advisories(for: index))
        }
        return Result(status: .scanned, reason: index.unsupported.isEmpty ? nil : index.unsupported.joined(separator: "; "),
                      index: index, report: report, generation: generation)
    }
}
