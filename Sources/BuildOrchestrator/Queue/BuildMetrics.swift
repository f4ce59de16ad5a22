import Foundation
import Metrics
import Synchronization

/// Build farm metrics on `/metrics`: queue depth and running builds per namespace, running
/// builds per worker, the wait from queued to started and the run time as histograms, outcomes
/// by final phase, and worker heartbeats. The queue refreshes the gauges after every state
/// change from its scheduler state, so they never drift from what the scheduler believes.
struct BuildMetrics: Sendable {
    private let wait = Timer(label: "slipway_build_queue_wait_seconds")
    private let duration = Timer(label: "slipway_build_duration_seconds")
    private let retries = Counter(label: "slipway_build_retries_total")

    /// Labels set to non-zero before, so a namespace or worker that drops to zero reads 0.
    private let seen = LabelMemory()

    func started(queuedAt: Int64, now: Int64) {
        wait.recordMilliseconds(max(0, now - queuedAt))
    }

    func finished(phase: String, startedAt: Int64?, now: Int64) {
        Counter(label: "slipway_builds_finished_total", dimensions: [("phase", phase)]).increment()
        if let startedAt { duration.recordMilliseconds(max(0, now - startedAt)) }
    }

    /// One observation per segment of a finished build's timeline in
    /// `slipway_build_phase_seconds{phase}`: waiting (queued → leased), build-scheduled (leased →
    /// the worker's first phase), unpacking, pulling, building, pushing.
    func phases(_ timeline: BuildTimeline) {
        for segment in timeline.segments {
            guard let millis = segment.millis else { continue }
            Timer(label: "slipway_build_phase_seconds", dimensions: [("phase", segment.phase.rawValue)]).recordMilliseconds(millis)
        }
    }

    func requeued() { retries.increment() }

    func heartbeat(worker: String) {
        Counter(label: "slipway_build_heartbeats_total", dimensions: [("worker", worker)]).increment()
    }

    /// Sets the gauges from the scheduler's view: namespace name → count, worker → count.
    func refresh(queued: [String: Int], running: [String: Int], runningByWorker: [String: Int]) {
        for (label, values) in [("slipway_builds_queued", queued), ("slipway_builds_running", running)] {
            for name in seen.merge(label, Set(values.keys)) {
                Gauge(label: label, dimensions: [("namespace", name)]).record(values[name] ?? 0)
            }
        }
        for worker in seen.merge("slipway_builds_running_by_worker", Set(runningByWorker.keys)) {
            Gauge(label: "slipway_builds_running_by_worker", dimensions: [("worker", worker)]).record(runningByWorker[worker] ?? 0)
        }
    }
}

/// Remembers which label values each gauge has had.
private final class LabelMemory: Sendable {
    private let values = Mutex<[String: Set<String>]>([:])

    /// Adds `current` to the gauge's known values; returns all known values.
    func merge(_ gauge: String, _ current: Set<String>) -> Set<String> {
        values.withLock { values in
            values[gauge, default: []].formUnion(current)
            return values[gauge]!
        }
    }
}
