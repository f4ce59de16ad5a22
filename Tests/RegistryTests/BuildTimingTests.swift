@testable import BuildOrchestrator
import BuildProtocol
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Every phase of a build timed (issue #20): the worker's stamps become the build view's
/// `timing`, the log's `datetime` and the `/metrics` phase histograms.
@Suite("Build timing")
struct BuildTimingTests {
    typealias API = BuildsAPITests

    @Test(arguments: TestBackend.available)
    func phaseTimesReachTheBuildViewTheLogAndMetrics(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.builds.inProcessWorkers = 0 }) { registry, c in
            let api = try await API.apiToken(registry)
            #expect(try await c.send(.post, "/api/v1/repository", token: api, headers: API.json,
                                     body: ByteBuffer(string: #"{"repository":"app","visibility":"private","description":""}"#)).status == .created)
            let fileID = try await API.upload(c, api, Array("FROM scratch\n".utf8))
            let start = try await c.send(.post, "/api/v1/repository/admin/app/build/", token: api, headers: API.json,
                                         body: ByteBuffer(string: #"{"file_id":"\#(fileID)"}"#))
            let buildID = try #require((start.json as? [String: Any])?["id"] as? String)
            let queuedView = try #require(start.json as? [String: Any])
            let queuedTiming = try #require(queuedView["timing"] as? [String: Any])
            #expect(queuedTiming["leased"] is NSNull && queuedTiming["completed"] is NSNull && queuedTiming["total_seconds"] is NSNull)
            #expect((queuedTiming["phases"] as? [[String: Any]])?.map { $0["phase"] as? String } == ["waiting"])

            let worker = API.Worker(c: c, token: registry.buildFarm.workerToken)
            let pack = try #require(try await worker.lease())
            let path = { (a: String) in WorkerProtocol.buildPath(buildID, a) }
            // The worker's stamps, after the lease and 100 ms apart, sent once that time has
            // passed (a stamp is never later than its arrival); one far in the future (a skewed
            // clock) is clamped to the moment it arrived.
            let leased = Clock.nowMillis()
            let stamps: [(BuildPhase, Int64)] = [(.unpacking, leased + 10), (.pulling, leased + 110), (.building, leased + 210)]
            while Clock.nowMillis() < leased + 300 { try await Task.sleep(for: .milliseconds(20)) }
            for (phase, at) in stamps {
                let update = PhaseUpdate(phase: phase, data: [LogTimestamp.key: LogTimestamp.format(millis: at)])
                let answer = try await worker.call(path("phase"), lease: pack.leaseID, update)
                try #require(answer.status == .noContent, "\(phase): \(answer.status) \(String(buffer: answer.body))")
            }
            let skewed = PhaseUpdate(phase: .pushing, data: [LogTimestamp.key: LogTimestamp.format(millis: leased + 3_600_000)])
            let skewedAnswer = try await worker.call(path("phase"), lease: pack.leaseID, skewed)
            try #require(skewedAnswer.status == .noContent, "\(skewedAnswer.status) \(String(buffer: skewedAnswer.body))")
            // A command entry without a stamp (an older worker) gets the arrival time; output lines none.
            let batch = LogBatch(firstSequence: 0, entries: [.init(message: "STEP 1/1: FROM scratch", type: "command"), .init(message: "ok")])
            let logged = try await worker.call(path("logs"), lease: pack.leaseID, batch)
            try #require(logged.status == .ok, "\(logged.status) \(String(buffer: logged.body))")
            let logs = try #require(try await c.send(.get, "/api/v1/repository/admin/app/build/\(buildID)/logs", token: api).json as? [String: Any])
            let entries = try #require(logs["logs"] as? [[String: Any]])
            try #require(entries.count == 2, "\(entries)")
            let commandStamp = try #require((entries[0]["data"] as? [String: Any])?["datetime"] as? String)
            #expect(LogTimestamp.millis(commandStamp).map { abs($0 - Clock.nowMillis()) < 60_000 } == true, "\(commandStamp)")
            #expect(entries[1]["data"] == nil || entries[1]["data"] is NSNull)

            var h: HTTPFields = [.authorization: "Bearer \(worker.token)", .contentType: "application/json", HTTPField.Name(WorkerProtocol.leaseHeader)!: pack.leaseID]
            h[HTTPField.Name("X-Slipway-Worker")!] = worker.id
            let done = try await c.client.executeRequest(uri: path("complete"), method: .post, headers: h,
                                                         body: ByteBuffer(bytes: try JSONEncoder().encode(Completion(outcome: .complete))))
            #expect(done.status == .noContent)

            let view = try #require(try await c.send(.get, "/api/v1/repository/admin/app/build/\(buildID)", token: api).json as? [String: Any])
            let timing = try #require(view["timing"] as? [String: Any])
            let phases = try #require(timing["phases"] as? [[String: Any]])
            try #require(phases.map { $0["phase"] as? String } == ["waiting", "build-scheduled", "unpacking", "pulling", "building", "pushing"])
            let seconds = phases.map { $0["seconds"] as? Double }
            #expect(seconds[2] == 0.1 && seconds[3] == 0.1, "the worker's stamps decide the durations: \(seconds)")
            #expect(seconds.allSatisfy { ($0 ?? -1) >= 0 }, "every segment of a finished build has a duration: \(seconds)")
            let pushingStart = try #require(phases[5]["started"] as? String)
            let completed = try #require(timing["completed"] as? String)
            #expect(pushingStart <= completed, "a future stamp is clamped to its arrival: \(pushingStart) > \(completed)")
            let total = try #require(timing["total_seconds"] as? Double)
            #expect(abs(total - seconds.compactMap { $0 }.reduce(0, +)) < 0.01, "the segments add up to the total")
            #expect((timing["queued"] as? String)?.hasSuffix("Z") == true && timing["leased"] is String)

            let metrics = String(buffer: try await c.client.executeRequest(uri: "/metrics", method: .get, headers: [:], body: nil).body)
            for phase in ["waiting", "build-scheduled", "unpacking", "pulling", "building", "pushing"] {
                #expect(metrics.contains("slipway_build_phase_seconds_count{phase=\"\(phase)\"}"), "\(phase) histogram missing from /metrics")
            }
        }
    }

    /// A build that fails while unpacking has no later segments, and one cancelled while
    /// waiting waited until its cancel.
    @Test func timelinesOfBuildsThatStoppedEarly() {
        var b = BuildRecord(id: 1, uuid: "u", repositoryID: 1, namespaceID: 1, phase: .error, displayName: "", manualUserID: nil, sourceKind: "upload",
                            fileID: nil, archiveURL: nil, gitURL: nil, commitSHA: nil, subdirectory: "", dockerfilePath: "Dockerfile", context: "",
                            tags: [], pullRobotID: nil, triggerID: nil, triggerMetadata: nil, errorMessage: nil, manifestDigests: [:], attempts: 1,
                            notBefore: nil, workerID: nil, leaseID: nil, startedAt: 1_000, stopReason: nil, pushTokenUUID: nil, queuedAt: 500,
                            finishedAt: 1_700, logCount: 0)
        b.phaseStartedAt = [.unpacking: 1_200]
        let failed = BuildTimeline(b)
        #expect(failed.segments.map(\.phase) == [.waiting, .buildScheduled, .unpacking])
        #expect(failed.segments.map(\.millis) == [500, 200, 500])
        #expect(failed.totalMillis == 1_200)

        b.startedAt = nil
        b.phaseStartedAt = [:]
        b.finishedAt = 900
        #expect(BuildTimeline(b).segments == [.init(phase: .waiting, start: 500, end: 900)])
        b.finishedAt = nil
        #expect(BuildTimeline(b).segments.first?.millis == nil, "still waiting: no duration yet")
    }
}
