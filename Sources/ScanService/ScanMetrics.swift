import Metrics

/// The scan pipeline's metrics (Prometheus through SlipwayCore's `Observability`).
public struct ScanMetrics: Sendable {
    /// Layer blobs read and indexed (a layer shared by many images counts once), by who read
    /// them: `by="server"` in a `slipway serve` process, `by="worker"` in a `slipway worker`.
    public let layersIndexed = Counter(label: "slipway_scan_layers_indexed_total", dimensions: [("by", "server")])
    public let layersIndexedByWorkers = Counter(label: "slipway_scan_layers_indexed_total", dimensions: [("by", "worker")])
    /// Layers that could not be indexed (damaged, hostile, not a tar), by who read them.
    public let layersFailed = Counter(label: "slipway_scan_layers_failed_total", dimensions: [("by", "server")])
    public let layersFailedByWorkers = Counter(label: "slipway_scan_layers_failed_total", dimensions: [("by", "worker")])
    /// Manifests finished, by status.
    public let manifestsScanned = Counter(label: "slipway_scan_manifests_total", dimensions: [("status", "scanned")])
    public let manifestsFailed = Counter(label: "slipway_scan_manifests_total", dimensions: [("status", "failed")])
    public let manifestsUnsupported = Counter(label: "slipway_scan_manifests_total", dimensions: [("status", "unsupported")])
    /// Manifests waiting for their scan (refreshed when a scan finishes and at each data check).
    public let queueDepth = Gauge(label: "slipway_scan_queue_depth")
    /// From the push that queued a manifest to its first report.
    public let latency = Metrics.Timer(label: "slipway_scan_latency_seconds", preferredDisplayUnit: .seconds)
    /// Manifests whose report a re-match recomputed.
    public let rematched = Counter(label: "slipway_scan_rematched_manifests_total")

    public init() {}

    /// Where a layer was read.
    enum Reader: Sendable { case server, worker }

    /// Counts one layer read by `reader`.
    func count(_ record: ScanStore.LayerRecord, by reader: Reader) {
        switch (record, reader) {
        case (.indexed, .server): layersIndexed.increment()
        case (.indexed, .worker): layersIndexedByWorkers.increment()
        case (.failed, .server): layersFailed.increment()
        case (.failed, .worker): layersFailedByWorkers.increment()
        }
    }
}
