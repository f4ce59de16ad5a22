import Foundation
import Logging
import SlipwayTestSupport
import Testing
@testable import Registry

/// A throughput measurement, not a timed test: it runs only with SLIPWAY_JOB_QUEUE_BENCH set
/// and prints jobs per second for pushing 10,000 jobs and for running them through
/// `JobQueueRunner` (one runner per replica). Its assertions are about correctness only.
@Suite("Job queue throughput", .serialized, .enabled(if: ProcessInfo.processInfo.environment["SLIPWAY_JOB_QUEUE_BENCH"] != nil))
struct JobQueueThroughputTests {
    @Test(arguments: TestBackend.available)
    func pushClaimCompleteTenThousandJobs(_ backend: TestBackend) async throws {
        let count = Int(ProcessInfo.processInfo.environment["SLIPWAY_JOB_QUEUE_BENCH_JOBS"] ?? "") ?? 10_000
        let replicas = backend == .postgres ? 2 : 1
        try await JobQueueHarness.with(backend, replicas: replicas) { h in
            let queue = "bench"
            let pushers = 8
            // Baseline for this machine and build: transactions that only run `SELECT 1`.
            let baselineStart = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for p in 0..<pushers {
                    let database = h.databases[p % replicas]
                    group.addTask {
                        for _ in stride(from: p, to: count, by: pushers) {
                            try await database.transaction { db in try await db.raw("SELECT 1").run() }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let baselineTime = ContinuousClock.now - baselineStart
            let pushStart = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for p in 0..<pushers {
                    let driver = h.drivers[p % replicas]
                    group.addTask {
                        for n in stride(from: p, to: count, by: pushers) {
                            _ = try await driver.push(JobRequest(queue: queue, payload: "{\"n\":\(n)}"))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let pushTime = ContinuousClock.now - pushStart

            let handled = Locked(0)
            var settings = JobQueueRunner.Settings()
            settings.concurrency = 16
            let runners = h.drivers.map { driver in
                JobQueueRunner(queue: queue, driver: driver, settings: settings, logger: Logger(label: "bench")) { _ in
                    handled.withLock { $0 += 1 }
                    return .completed
                }
            }
            let runStart = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for runner in runners { group.addTask { try await runner.run() } }
                try await h.waitUntil("every job is done", timeout: .seconds(600)) {
                    try await h.database.read { db in
                        try await db.raw("SELECT count(*) AS n FROM jobs WHERE queue = \(bind: queue) AND status = 'done'").first()?
                            .decode(column: "n", as: Int.self) == count
                    }
                }
                group.cancelAll()
            }
            let runTime = ContinuousClock.now - runStart
            let jobs = try await h.driver.jobs(queue: queue)
            #expect(jobs.count == count)
            #expect(jobs.allSatisfy { $0.status == .done && $0.attempts == 1 })
            #expect(handled.withLock { $0 } == count)

            func rate(_ d: Duration) -> Int { Int(Double(count) / (Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)) }
            print("job queue throughput (\(backend), \(replicas) replica(s), \(count) jobs): "
                  + "empty transactions \(rate(baselineTime))/s, push \(rate(pushTime))/s (\(pushers) pushers), "
                  + "claim+run+complete \(rate(runTime))/s (\(replicas) runner(s) × concurrency \(settings.concurrency))")
        }
    }
}
