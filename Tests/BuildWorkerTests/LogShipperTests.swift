@testable import BuildWorker
import BuildProtocol
import Foundation
import Synchronization
import Testing

/// `LogShipper` against a scripted orchestrator: phase updates stay pending until delivered, in
/// order with the log entries, whatever request fails.
@Suite("Log shipper")
struct LogShipperTests {
    /// Keeps the log as the orchestrator does (entries from its next sequence on, duplicates
    /// ignored) and records each delivered phase with the log length at that moment. Log or
    /// phase requests fail while their failure counters are above zero.
    final class ScriptedOrchestrator: BuildLogSink, Sendable {
        struct Transient: Error {}
        struct State {
            var log: [String] = []
            var phases: [(phase: BuildPhase, logLength: Int)] = []
            var failLogs = 0
            var failPhases = 0
            var refusePhases = false
            var largestBatch = 0
        }
        let state = Mutex(State())

        func logs(_ pack: BuildPack, _ batch: LogBatch) async throws -> Int {
            try state.withLock { s in
                if s.failLogs > 0 {
                    s.failLogs -= 1
                    throw Transient()
                }
                s.largestBatch = max(s.largestBatch, batch.entries.count)
                for (offset, entry) in batch.entries.enumerated() where batch.firstSequence + offset == s.log.count {
                    s.log.append(entry.message)
                }
                return s.log.count
            }
        }

        func phase(_ pack: BuildPack, _ update: PhaseUpdate) async throws {
            try state.withLock { s in
                if s.refusePhases { throw OrchestratorClient.ProtocolError(status: 409, description: "lease lost") }
                if s.failPhases > 0 {
                    s.failPhases -= 1
                    throw Transient()
                }
                s.phases.append((update.phase, s.log.count))
            }
        }

        var log: [String] { state.withLock { $0.log } }
        var phases: [(phase: BuildPhase, logLength: Int)] { state.withLock { $0.phases } }
    }

    static let pack = BuildPack(buildID: "b", leaseID: "l", attempt: 1, source: .upload(url: "http://x/"), contextPath: "", dockerfilePath: "Dockerfile",
                                registry: "localhost", repository: "a/b", tags: ["latest"], pushCredentials: .init(username: "u", password: "p"),
                                pullCredentials: nil, tlsVerify: false, timeoutSeconds: 60, heartbeatIntervalSeconds: 1)

    @Test func aFailedLogPostKeepsThePhaseUpdate() async {
        let orchestrator = ScriptedOrchestrator()
        let shipper = LogShipper(client: orchestrator, pack: Self.pack)
        shipper.enqueue(BuildLogEntry(message: "fetching"))
        shipper.enqueuePhase(PhaseUpdate(phase: .building))
        shipper.enqueue(BuildLogEntry(message: "STEP 1/1"))
        orchestrator.state.withLock { $0.failLogs = 1 }

        await shipper.flush()
        #expect(orchestrator.log.isEmpty && orchestrator.phases.isEmpty, "nothing reached the orchestrator yet")
        await shipper.flush()
        #expect(orchestrator.log == ["fetching", "building", "STEP 1/1"])
        let phases = orchestrator.phases
        #expect(phases.map(\.phase) == [.building], "the phase update survived the failed log request")
        // Delivered right after its own entry, before the line that follows it.
        #expect(phases.first?.logLength == 2)
    }

    @Test func aFailedPhaseUpdateHoldsBackLaterEntriesUntilItIsDelivered() async {
        let orchestrator = ScriptedOrchestrator()
        let shipper = LogShipper(client: orchestrator, pack: Self.pack)
        shipper.enqueuePhase(PhaseUpdate(phase: .pulling))
        shipper.enqueue(BuildLogEntry(message: "pulled"))
        shipper.enqueuePhase(PhaseUpdate(phase: .building))
        orchestrator.state.withLock { $0.failPhases = 1 }

        await shipper.flush()
        #expect(orchestrator.log == ["pulling"] && orchestrator.phases.isEmpty)
        await shipper.flush()
        #expect(orchestrator.log == ["pulling", "pulled", "building"])
        #expect(orchestrator.phases.map(\.phase) == [.pulling, .building])
        #expect(orchestrator.phases.map(\.logLength) == [1, 3])
    }

    @Test func refusedPhaseUpdatesAndTerminalPhasesDoNotBlockTheLog() async {
        let orchestrator = ScriptedOrchestrator()
        let shipper = LogShipper(client: orchestrator, pack: Self.pack)
        orchestrator.state.withLock { $0.refusePhases = true }
        shipper.enqueuePhase(PhaseUpdate(phase: .building))
        shipper.enqueue(BuildLogEntry(message: "output"))
        await shipper.flush()
        #expect(orchestrator.log == ["building", "output"], "a refused update (lease gone) is not retried forever")

        orchestrator.state.withLock { $0.refusePhases = false }
        shipper.enqueuePhase(PhaseUpdate(phase: .cancelled))
        await shipper.flush()
        #expect(orchestrator.log == ["building", "output", "cancelled"])
        #expect(orchestrator.phases.isEmpty, "terminal phases travel in the completion, not as phase updates")
    }

    @Test func largeBacklogsGoInBoundedBatches() async {
        let orchestrator = ScriptedOrchestrator()
        let shipper = LogShipper(client: orchestrator, pack: Self.pack)
        for i in 0..<2500 { shipper.enqueue(BuildLogEntry(message: "line \(i)")) }
        shipper.enqueuePhase(PhaseUpdate(phase: .pushing))
        await shipper.flush()
        #expect(orchestrator.log.count == 2501)
        #expect(orchestrator.state.withLock { $0.largestBatch } == LogShipper.maxBatch)
        #expect(orchestrator.phases.map(\.logLength) == [2501])
    }

    /// Records whole entries and updates, to check their stamps.
    final class RecordingSink: BuildLogSink, Sendable {
        let state = Mutex<(entries: [BuildLogEntry], updates: [PhaseUpdate])>(([], []))
        func logs(_ pack: BuildPack, _ batch: LogBatch) async throws -> Int {
            state.withLock { s in
                s.entries += batch.entries.dropFirst(max(0, s.entries.count - batch.firstSequence))
                return s.entries.count
            }
        }
        func phase(_ pack: BuildPack, _ update: PhaseUpdate) async throws { state.withLock { $0.updates.append(update) } }
    }

    /// Phase and command entries carry the moment they were enqueued (Quay's `datetime`), not
    /// the moment their batch was shipped; the phase update carries the same stamp.
    @Test func phaseAndCommandEntriesAreStampedWhenTheyHappen() async {
        let sink = RecordingSink()
        let now = Mutex<Int64>(1_765_000_000_123)
        let shipper = LogShipper(client: sink, pack: Self.pack, clock: { now.withLock { $0 } })
        shipper.enqueuePhase(PhaseUpdate(phase: .pulling, data: ["base_image": "busybox"]))
        now.withLock { $0 += 1500 }
        shipper.enqueue(BuildLogEntry(message: "STEP 1/2: FROM busybox", type: "command", data: ["step": "1"]))
        shipper.enqueue(BuildLogEntry(message: "plain output"))
        now.withLock { $0 += 60_000 }  // shipped much later
        await shipper.flush()
        let (entries, updates) = sink.state.withLock { ($0.entries, $0.updates) }
        #expect(entries.map { $0.data?["datetime"] } == ["2025-12-06 05:46:40.123000", "2025-12-06 05:46:41.623000", nil])
        #expect(entries[0].data?["base_image"] == "busybox" && entries[1].data?["step"] == "1")
        #expect(updates.map { $0.data["datetime"] } == ["2025-12-06 05:46:40.123000"])
        #expect(LogTimestamp.millis("2025-12-06 05:46:41.623000") == 1_765_000_001_623)
        #expect(LogTimestamp.millis("2025-12-06 05:46:41") == 1_765_000_001_000, "Quay writes no fraction on a whole second")
        #expect(LogTimestamp.millis("yesterday") == nil)
    }
}
