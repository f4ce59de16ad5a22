// The `scan` job: a manifest's layers indexed (each digest once, ever), folded into the image's
// package list with AddedBy, matched against the loaded vulnerability data, and stored with the
// job's completion. A layer that cannot be indexed fails the manifest with its reason and the
// queue goes on; storage trouble is retried with the queue's backoff.
//
// One implementation for both places a scan runs: in-process, the layers come from the
// `LayerIndexer` (which reads what is missing); for a scan worker, the worker read them and
// reported them into the layer index first, and the scan finds them there (`reportedLayers`).

import Foundation
import Logging
import Registry
import Scanner
import SlipwayCore

struct ManifestScanner: Sendable {
    let store: ScanStore
    let registry: MetadataStore
    let vulnerabilities: VulnerabilityStore
    let metrics: ScanMetrics
    let logger: Logger

    /// Where a scan gets a layer's record.
    typealias LayerRecords = @Sendable (Digest) async throws -> ScanStore.LayerRecord

    /// A layer a worker should have reported before completing its scan, and did not.
    struct LayerNotReported: Error, CustomStringConvertible {
        let digest: Digest
        var description: String { "layer \(digest) was not indexed" }
    }

    /// The layer index alone: what scan workers reported (nothing is read here).
    var reportedLayers: LayerRecords {
        let store = self.store
        return { digest in
            guard let record = try await store.layer(digest.description) else { throw LayerNotReported(digest: digest) }
            return record
        }
    }

    /// Layer media types the indexer reads (tar, optionally compressed; Docker and OCI).
    static func isImageLayer(_ mediaType: String) -> Bool {
        mediaType.hasPrefix("application/vnd.oci.image.layer.") || mediaType.hasPrefix("application/vnd.docker.image.rootfs.")
    }

    /// Runs one attempt of `job`; on its last attempt an error fails the manifest with it
    /// (other errors are thrown: the queue retries).
    func attempt(_ job: QueuedJob, layers: LayerRecords) async throws -> JobOutcome {
        do {
            return try await handle(job, layers: layers)
        } catch {
            guard job.isLastAttempt, let record = Self.recordFailure(of: job, "\(error)") else { throw error }
            return .failed("\(error)", record: record)
        }
    }

    func handle(_ job: QueuedJob, layers: LayerRecords) async throws -> JobOutcome {
        let payload = try job.decodePayload(ScanJob.self)
        let digest = payload.manifest
        let started = ContinuousClock.now
        let result = try await scan(payload, layers: layers)
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

    /// What a scan job needs: its result already (the manifest is gone, unreadable, or not an
    /// image), or the image's layers to index.
    enum Plan: Sendable {
        case finished(Result)
        case image(Digest, layers: [Descriptor])
    }

    func plan(_ job: ScanJob) async throws -> Plan {
        guard let digest = try? Digest(parsing: job.manifest) else {
            return .finished(Result(status: .failed, reason: "not a manifest digest: \(job.manifest)"))
        }
        guard let stored = try await registry.manifest(repositoryID: job.repositoryID, digest: digest) else {
            return .finished(Result(status: .failed, reason: "the manifest was deleted before it was scanned"))
        }
        let document: ManifestDocument
        do {
            document = try ManifestDocument(bytes: Array(stored.content.utf8), contentType: stored.mediaType)
        } catch {
            return .finished(Result(status: .failed, reason: "the manifest cannot be read: \(error)"))
        }
        if document.isIndex {
            return .finished(Result(status: .unsupported, reason: "an image index: each of its manifests is scanned on its own"))
        }
        guard !document.layers.isEmpty, document.layers.allSatisfy({ Self.isImageLayer($0.mediaType) }) else {
            let types = Set(document.layers.map(\.mediaType)).sorted().joined(separator: ", ")
            return .finished(Result(status: .unsupported, reason: "not a container image (layers: \(types.isEmpty ? "none" : types))"))
        }
        return .image(digest, layers: document.layers)
    }

    /// The image's layers the layer index has no record of yet, bottom first, once each (nil
    /// when the job has none to read: its result is known without them).
    func layersToIndex(_ job: ScanJob) async throws -> (manifest: Digest, layers: [Descriptor])? {
        guard case .image(let digest, let layers) = try await plan(job) else { return nil }
        let known = try await store.knownLayers(layers.map(\.digest.description))
        var seen: Set<Digest> = []
        let missing = layers.filter { !known.contains($0.digest.description) && seen.insert($0.digest).inserted }
        return missing.isEmpty ? nil : (digest, missing)
    }

    func scan(_ job: ScanJob, layers: LayerRecords) async throws -> Result {
        let digest: Digest
        let descriptors: [Descriptor]
        switch try await plan(job) {
        case .finished(let result): return result
        case .image(let d, let l): (digest, descriptors) = (d, l)
        }
        var contents: [(digest: String, contents: LayerContents)] = []
        for layer in descriptors {
            switch try await layers(layer.digest) {
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
