// A layer digest is read once: what it holds (or why it could not be read) is kept in
// `scan_layers`, and concurrent scans in this process that need the same layer wait for the
// one read already under way instead of starting their own. What a scan worker read arrives
// through `keep` and is stored the same way.

import Scanner
import SlipwayCore

actor LayerIndexer {
    let store: ScanStore
    let source: any LayerSource
    let metrics: ScanMetrics
    private var inFlight: [String: Task<ScanStore.LayerRecord, any Error>] = [:]

    init(store: ScanStore, source: any LayerSource, metrics: ScanMetrics) {
        self.store = store
        self.source = source
        self.metrics = metrics
    }

    /// The layer's record, reading the blob only when no scan has before.
    func record(of layer: Digest) async throws -> ScanStore.LayerRecord {
        let key = layer.description
        if let running = inFlight[key] { return try await running.value }
        if let known = try await store.layer(key) { return known }
        if let running = inFlight[key] { return try await running.value }
        let source = self.source
        let task = Task<ScanStore.LayerRecord, any Error> {
            let record: ScanStore.LayerRecord
            do {
                record = .indexed(try await source.contents(of: layer))
            } catch let error as LayerReadError {
                record = .failed(error.message)
            }
            try await keep(key, record, by: .server)
            return record
        }
        inFlight[key] = task
        defer { inFlight[key] = nil }
        return try await task.value
    }

    /// Stores what `reader` found in a layer (a layer indexed meanwhile keeps its first record).
    nonisolated func keep(_ layer: String, _ record: ScanStore.LayerRecord, by reader: ScanMetrics.Reader) async throws {
        try await store.saveLayer(layer, record)
        metrics.count(record, by: reader)
    }
}
