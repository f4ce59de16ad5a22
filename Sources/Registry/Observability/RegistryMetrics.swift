import Metrics

/// Registry-specific counters.
public struct RegistryMetrics: Sendable {
    public let bytesPushed = Counter(label: "slipway_registry_bytes_pushed_total")
    public let bytesPulled = Counter(label: "slipway_registry_bytes_pulled_total")
    /// The part of `bytesPulled` sent with `sendfile(2)` (blobs in local files).
    public let bytesPulledZeroCopy = Counter(label: "slipway_registry_bytes_pulled_zero_copy_total")
    public let uploadsInProgress = Gauge(label: "slipway_registry_uploads_in_progress")
    public let blobsCommitted = Counter(label: "slipway_registry_blobs_committed_total")
    public let manifestsPushed = Counter(label: "slipway_registry_manifests_pushed_total")

    public init() {}
}
