// The scan side of the worker protocol: a `slipway worker --roles scan` leases `scan` jobs from
// the server over HTTP, indexes the layers the server has not indexed yet, and hands their
// contents back; the server matches and stores the report exactly as its in-process scanners
// do. Every call carries `Authorization: Bearer <worker token>` (config `builds.workerToken`);
// every call about a job also carries the lease token in `X-Slipway-Lease`, valid only while
// that worker holds the job's claim.
//
//   POST /buildman/v1/scans/lease                      ScanLeaseRequest → 200 ScanLease | 204 (long-poll, ≤ 5 s)
//   POST /buildman/v1/scans/{job}/heartbeat            → 204 (the claim is extended) | 409 (lost)
//   GET  /buildman/v1/scans/{job}/layers/{digest}      → 200 the layer blob, streamed (leased layers only)
//   POST /buildman/v1/scans/{job}/layers/{digest}      ScanLayerResult → 204 (kept in the layer index)
//   POST /buildman/v1/scans/{job}/complete             ScanCompletion → 204 (matched, stored, job acked)

public enum ScanWorkerProtocol {
    public static let leasePath = "/buildman/v1/scans/lease"
    public static let leaseHeader = "X-Slipway-Lease"
    public static func jobPath(_ job: Int64, _ action: String) -> String { "/buildman/v1/scans/\(job)/\(action)" }
    public static func layerPath(_ job: Int64, _ digest: String) -> String { "/buildman/v1/scans/\(job)/layers/\(digest)" }
}

public struct ScanLeaseRequest: Codable, Sendable {
    public let workerID: String
    public init(workerID: String) { self.workerID = workerID }
}

/// A leased scan: only what indexing it needs (no repository, no credentials).
public struct ScanLease: Codable, Sendable, Equatable {
    public struct Layer: Codable, Sendable, Equatable {
        public let digest: String
        public let size: Int64
        public let mediaType: String
        public init(digest: String, size: Int64, mediaType: String) {
            self.digest = digest
            self.size = size
            self.mediaType = mediaType
        }
    }

    public let jobID: Int64
    /// The claim the other calls present; another worker's claim of the same job has another.
    public let leaseToken: String
    public let manifest: String
    /// The manifest's layers not in the layer index yet, bottom first (never empty: a job with
    /// nothing left to read the server finishes itself).
    public let layers: [Layer]
    /// How often to heartbeat while reading, well within the claim's visibility timeout.
    public let heartbeatIntervalSeconds: Int

    public init(jobID: Int64, leaseToken: String, manifest: String, layers: [Layer], heartbeatIntervalSeconds: Int) {
        self.jobID = jobID
        self.leaseToken = leaseToken
        self.manifest = manifest
        self.layers = layers
        self.heartbeatIntervalSeconds = heartbeatIntervalSeconds
    }
}

/// One layer read by a worker: its contents, or why it cannot be indexed (a `LayerReadError`'s
/// message, which fails every image with that layer, as on the server).
public struct ScanLayerResult: Codable, Sendable, Equatable {
    public let contents: LayerContents?
    public let failure: String?

    public static func indexed(_ contents: LayerContents) -> ScanLayerResult { ScanLayerResult(contents: contents, failure: nil) }
    public static func failed(_ reason: String) -> ScanLayerResult { ScanLayerResult(contents: nil, failure: reason) }

    public init(contents: LayerContents?, failure: String?) {
        self.contents = contents
        self.failure = failure
    }
}

/// The end of a worker's attempt. `error` set: the worker could not finish (a download broke,
/// no disk) and the job is retried after the queue's backoff; nil: every leased layer was
/// reported (or one failed) and the server matches and stores the report.
public struct ScanCompletion: Codable, Sendable, Equatable {
    public let error: String?
    public init(error: String? = nil) { self.error = error }
}
