import Foundation
import Logging
import ServiceLifecycle
import SlipwayTestSupport
import SQLKit
import Synchronization
import Testing
@testable import SlipwayCore

/// `JobQueueRunner` over both drivers: bounded concurrency, outcomes, backoff, lease renewal
/// and shutdown.
@Suite("Job queue runner", .timeLimit(.minutes(10)))
struct JobQueueRunnerTests {
    static let queue = "runner-queue"
    static let logger = Logger(label: "job-runner-test")

    static func request(_ name: String, maxAttempts: Int = 5) -> JobRequest {
        JobRequest(queue: queue, payload: "{\"n\":\"\(name)\"}", maxAttempts: maxAttempts)
    }

    /// A gate handlers wait at until the test opens it.
    final class Gate: Sendable {
        private let state = Locked<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
        let arrivals = Atomic<Int>(0)

        func wait() async {
            arrivals.add(1, ordering: .relaxed)
            await withCheckedContinuation { c in
                let open = state.withLock { s -> Bool in
                    if !s.open { s.waiters.append(c) }
                    return s.open
                }
                if open { c.resume() }
            }
        }

        func open() {
            let waiters = state.withLock { s in s.open = true; defer { s.waiters = [] }; return s.waiters }
            waiters.forEach { $0.resume() }
        }
    }

    @Test(arguments: TestBackend.available)
    func runsEveryPushedJobWithBoundedConcurrency(_ backend: TestBackend) async throws {
        try await JobQueueHarness.with(backend) { h in
            let inFlight = Locked((now: 0, max: 0))
            let handled = Locked<[Int64]>([])
            var settings = JobQueueRunner.Settings()
            settings.concurrency = 3
            settings.fallbackPoll = .seconds(120)
            let runner = JobQueueRunner(queue: Self.queue, driver: h.driver, settings: settings, logger: Self.logger) { job in
                inFlight.withLock { $0.now += 1; $0.max = max($0.max, $0.now) }
                try await Task.sleep(for: .milliseconds(5))
                inFlight.withLock { $0.now -= 1 }
                handled.withLock { $0.append(job.id) }
                return .completed
            }
            // On PostgreSQL the jobs come from the other replica (wake-ups through NOTIFY).
            let producer = backend == .postgres ? h.drivers[1] : h.driver
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await runner.run() }
                var pushed: [Int64] = []
                for n in 0..<40 { pushed.append(try await producer.push(Self.request("j\(n)"))) }
                try await h.waitUntil("every job ran") { handled.withLock { $0.count } >= 40 }
                try await h.waitUntil("every job is done") {
                    try await h.driver.jobs(queue: Self.queue).allSatisfy { $0.status == .done }
                }
                #expect(handled.withLock { $0.sorted() } == pushed, "each job once")
                #expect(inFlight.withLock { $0.max } <= 3)
                group.cancelAll()
            }
        }
    }

    /// With `orderedStart`, the jobs of one claim start in id order, each once the one before
    /// it is under way: a job slow to get under way is not overtaken (notification deliveries
    /// reach receivers in event order this way).
    @Test(arguments: TestBackend.available)
    func orderedStartWaitsForThePreviousJobToGetUnderway(_ backend: TestBackend) async throws {
        try await JobQueueHarness.with(backend) { h in
            let events = Locked<[String]>([])
            var settings = JobQueueRunner.Settings()
            settings.concurrency = 3
            settings.orderedStart = .seconds(60)
            let runner = JobQueueRunner(queue: Self.queue, driver: h.driver, settings: settings, logger: Self.logger,
                                        progressHandler: { job, underway in
                let name = try job.decodePayload([String: String].self)["n"] ?? "?"
                events.withLock { $0.append("start \(name)") }
                // The first job takes a while to get under way; unordered, the others would start meanwhile.
                if name == "a" { try await Task.sleep(for: .milliseconds(300)) }
                events.withLock { $0.append("underway \(name)") }
                underway()
                return .completed
            })
            for name in ["a", "b", "c"] { _ = try await h.driver.push(Self.request(name)) }
            #expect(await runner.runOnce() == 3)
            #expect(events.withLock { $0 } == ["start a", "underway a", "start b", "underway b", "start c", "underway c"])
        }
    }

    @Test(arguments: TestBackend.available)
    func outcomesAndBackoff(_ backend: TestBackend) async throws {
        let time = ManualJobClock()
        try await JobQueueHarness.with(backend, clock: time.clock) { h in
            try await h.database.transaction { db in try await db.raw("CREATE TABLE runner_effects (note TEXT NOT NULL)").run() }
            var settings = JobQueueRunner.Settings()
            settings.backoff = RetryBackoff(base: .seconds(2), cap: .seconds(60), maxAttempts: .max)
            struct Boom: Error, CustomStringConvertible { var description: String { "boom" } }
            let runner = JobQueueRunner(queue: Self.queue, driver: h.driver, settings: settings, logger: Self.logger) { job in
                switch try job.decodePayload([String: String].self)["n"] ?? "" {
                case "complete":
                    return .completed { db in try await db.raw("INSERT INTO runner_effects (note) VALUES ('completed')").run() }
                case "skip": return .skipped("address not confirmed")
                case "fail": return .failed("404 from receiver")
                case "later": return .retry("busy", at: time.now + 7000)
                default: throw Boom()
                }
            }
            let ids = [try await h.driver.push(Self.request("complete")), try await h.driver.push(Self.request("skip")),
                       try await h.driver.push(Self.request("fail")), try await h.driver.push(Self.request("later")),
                       try await h.driver.push(Self.request("throw"))]
            let start = time.now
            #expect(await runner.runOnce() == 5)
            let jobs = try await h.driver.jobs(queue: Self.queue)
            try #require(jobs.map(\.id) == ids)
            #expect(jobs[0].status == .done && jobs[0].lastError == nil)
            #expect(jobs[1].status == .done && jobs[1].lastError == "address not confirmed")
            #expect(jobs[2].status == .dead && jobs[2].lastError == "404 from receiver" && jobs[2].attempts == 1)
            #expect(jobs[3].status == .ready && jobs[3].nextAttemptAt == start + 7000 && jobs[3].lastError == "busy")
            #expect(jobs[4].status == .ready && jobs[4].nextAttemptAt == start + 2000 && jobs[4].lastError == "boom", "first backoff step")
            let notes = try await h.database.read { db in
                try await db.raw("SELECT note FROM runner_effects").all().map { try $0.decode(column: "note", as: String.self) }
            }
            #expect(notes == ["completed"])

            time.advance(by: .seconds(2))
            #expect(await runner.runOnce() == 1)
            #expect(try await h.driver.job(id: ids[4])?.nextAttemptAt == start + 2000 + 4000, "second backoff step doubles")
        }
    }

    /// A handler slower than the visibility timeout keeps its claim: the runner renews the lease.
    @Test(arguments: TestBackend.available)
    func longJobKeepsItsLease(_ backend: TestBackend) async throws {
        let time = ManualJobClock()
        try await JobQueueHarness.with(backend, clock: time.clock) { h in
            let gate = Gate()
            var settings = JobQueueRunner.Settings()
            settings.visibilityTimeout = .seconds(30)
            settings.leaseRenewalInterval = .milliseconds(20)
            let runner = JobQueueRunner(queue: Self.queue, driver: h.driver, settings: settings, logger: Self.logger) { _ in
                await gate.wait()
                return .completed
            }
            let id = try await h.driver.push(Self.request("slow"))
            let start = time.now
            async let ran = runner.runOnce()
            try await h.waitUntil("the job runs") { gate.arrivals.load(ordering: .relaxed) == 1 }
            // Three times the visibility timeout passes while the handler runs; each time the
            // lease is renewed before the other replica looks.
            for step in 1...3 {
                time.advance(by: .seconds(20))
                try await h.waitUntil("the lease is renewed (step \(step))") {
                    try await h.driver.job(id: id)?.leaseUntil ?? 0 >= time.now + 30_000
                }
                time.advance(by: .seconds(15))
                #expect(try await h.drivers[1].claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30)).isEmpty,
                        "another consumer took a job whose handler is still running (step \(step))")
            }
            #expect(time.now - start > 90_000)
            gate.open()
            #expect(await ran == 1)
            let job = try #require(try await h.driver.job(id: id))
            #expect(job.status == .done && job.attempts == 1)
        }
    }

    /// Graceful shutdown: no new claims, the job in flight finishes.
    @Test(arguments: TestBackend.available)
    func gracefulShutdownLetsTheJobInFlightFinish(_ backend: TestBackend) async throws {
        try await JobQueueHarness.with(backend) { h in
            let gate = Gate()
            let runner = JobQueueRunner(queue: Self.queue, driver: h.driver, logger: Self.logger) { _ in
                await gate.wait()
                return .completed
            }
            let group = ServiceGroup(services: [runner], logger: Self.logger)
            let first = try await h.driver.push(Self.request("in flight"))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await h.waitUntil("the job runs") { gate.arrivals.load(ordering: .relaxed) == 1 }
                await group.triggerGracefulShutdown()
                let second = try await h.driver.push(Self.request("after shutdown"))
                gate.open()
                try await tasks.waitForAll()
                #expect(try await h.driver.job(id: first)?.status == .done)
                let untouched = try #require(try await h.driver.job(id: second))
                #expect(untouched.status == .ready && untouched.attempts == 0, "nothing claimed after shutdown began")
            }
        }
    }

    /// Cancelled outright, the runner gives its unfinished job back for another consumer.
    @Test(arguments: TestBackend.available)
    func cancellationGivesTheJobBack(_ backend: TestBackend) async throws {
        try await JobQueueHarness.with(backend) { h in
            let started = Locked(0)
            let runner = JobQueueRunner(queue: Self.queue, driver: h.driver, logger: Self.logger) { _ in
                started.withLock { $0 += 1 }
                try await Task.sleep(for: .seconds(3600))
                return .completed
            }
            let id = try await h.driver.push(Self.request("interrupted"))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await runner.run() }
                try await h.waitUntil("the job runs") { started.withLock { $0 } == 1 }
                tasks.cancelAll()
                try await tasks.waitForAll()
            }
            let job = try #require(try await h.driver.job(id: id))
            #expect(job.status == .ready && job.claimToken == nil && job.attempts == 0, "given back, attempt not counted")
            #expect(try await h.drivers[1].claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30)).map(\.id) == [id],
                    "claimable at once")
        }
    }
}
