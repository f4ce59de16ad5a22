import Foundation
import SlipwayTestSupport
import SQLKit
import Synchronization
import Testing
@testable import SlipwayCore

/// The contract every `JobQueueDriver` meets, one test body per property, run against SQLite
/// and (when `SLIPWAY_TEST_POSTGRES_URL` is set) PostgreSQL. "Replicas" are separate driver
/// instances with their own database handles (connection pools on PostgreSQL).
@Suite("Job queue driver conformance", .timeLimit(.minutes(10)))
struct JobQueueConformanceTests {
    static let queue = "test-queue"

    static func request(_ payload: String, queue: String = queue, key: String? = nil, reference: String? = nil,
                        maxAttempts: Int = 5, notBefore: Int64? = nil) -> JobRequest {
        JobRequest(queue: queue, payload: "{\"n\":\"\(payload)\"}", orderingKey: key, reference: reference,
                   maxAttempts: maxAttempts, notBefore: notBefore)
    }

    static func names(_ jobs: [QueuedJob]) throws -> [String] {
        try jobs.map { try $0.decodePayload([String: String].self)["n"] ?? "?" }
    }

    // MARK: Push, claim, complete

    @Test(arguments: TestBackend.available)
    func pushClaimComplete(_ backend: TestBackend) async throws {
        try await JobQueueHarness.with(backend) { h in
            let d = h.driver
            let ids = [try await d.push(Self.request("a", reference: "ref-a")), try await d.push(Self.request("b")),
                       try await d.push(Self.request("c"))]
            _ = try await d.push(Self.request("other", queue: "other-queue"))

            let claimed = try await d.claim(queue: Self.queue, limit: 10, visibilityTimeout: .seconds(30))
            #expect(claimed.map(\.id) == ids, "oldest first, this queue only")
            #expect(try Self.names(claimed) == ["a", "b", "c"])
            #expect(claimed.allSatisfy { $0.attempts == 1 && $0.claimToken != nil && $0.status == .ready })
            #expect(claimed.first?.reference == "ref-a")
            #expect(try await d.claim(queue: Self.queue, limit: 10, visibilityTimeout: .seconds(30)).isEmpty, "claimed jobs are not handed out twice")

            for job in claimed { #expect(try await d.complete(job)) }
            let done = try await d.jobs(queue: Self.queue)
            #expect(done.allSatisfy { $0.status == .done && $0.claimToken == nil && $0.finishedAt != nil })
            #expect(try await !d.complete(try #require(claimed.first)), "a finished job cannot be finished again")
            #expect(try await d.claim(queue: Self.queue, limit: 10, visibilityTimeout: .seconds(30)).isEmpty)
            #expect(try await d.claim(queue: "other-queue", limit: 10, visibilityTimeout: .seconds(30)).count == 1)
        }
    }

    // MARK: A consumer dies holding a claim

    @Test(arguments: TestBackend.available)
    func deadConsumersJobComesBackAfterTheVisibilityTimeout(_ backend: TestBackend) async throws {
        let time = ManualJobClock()
        try await JobQueueHarness.with(backend, clock: time.clock) { h in
            let (a, b) = (h.drivers[0], h.drivers[1])
            let id = try await b.push(Self.request("x"))
            let held = try #require(try await a.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30)).first)
            #expect(held.id == id)
            // Replica A "dies" here: it never completes.

            time.advance(by: .seconds(29))
            #expect(try await b.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30)).isEmpty, "still under A's lease")
            time.advance(by: .seconds(2))
            let retaken = try #require(try await b.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30)).first)
            #expect(retaken.id == id && retaken.attempts == 2 && retaken.claimToken != held.claimToken)

            #expect(try await !a.complete(held), "the dead consumer's late outcome is refused")
            #expect(try await !a.retry(held, error: "late", at: time.now))
            #expect(try await !a.deadLetter(held, error: "late"))
            #expect(try await !a.extendLease(held, visibilityTimeout: .seconds(30)))
            #expect(try await !a.release(held))
            #expect(try await b.extendLease(retaken, visibilityTimeout: .seconds(30)))
            #expect(try await b.complete(retaken))
            let job = try #require(try await b.job(id: id))
            #expect(job.status == .done && job.attempts == 2 && job.lastError == nil)
        }
    }

    // MARK: Consumers racing

    /// One job, two replicas claiming at the same moment, many times over: exactly one wins.
    @Test(arguments: TestBackend.available)
    func twoConsumersRacingForOneJobOneWins(_ backend: TestBackend) async throws {
        try await JobQueueHarness.with(backend) { h in
            let (a, b) = (h.drivers[0], h.drivers[1])
            var wins = (a: 0, b: 0)
            for round in 0..<100 {
                let id = try await a.push(Self.request("r\(round)"))
                async let fromA = a.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30))
                async let fromB = b.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30))
                let (ja, jb) = try await (fromA, fromB)
                #expect(ja.count + jb.count == 1, "round \(round): exactly one consumer wins")
                let winner = try #require((ja + jb).first)
                #expect(winner.id == id)
                if ja.isEmpty { wins.b += 1 } else { wins.a += 1 }
                #expect(try await (ja.isEmpty ? b : a).complete(winner))
            }
            #expect(wins.a + wins.b == 100)
        }
    }

    /// Many jobs drained by four consumers on two replicas at once: each job is handed out
    /// exactly once.
    @Test(arguments: TestBackend.available)
    func concurrentConsumersNeverShareAJob(_ backend: TestBackend) async throws {
        try await JobQueueHarness.with(backend) { h in
            var pushed = Set<Int64>()
            for n in 0..<300 { pushed.insert(try await h.driver.push(Self.request("j\(n)"))) }
            let claims = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for consumer in 0..<4 {
                    let driver = h.drivers[consumer % 2]
                    group.addTask {
                        var mine: [Int64] = []
                        while true {
                            let jobs = try await driver.claim(queue: Self.queue, limit: 7, visibilityTimeout: .seconds(60))
                            if jobs.isEmpty { return mine }
                            for job in jobs {
                                mine.append(job.id)
                                #expect(try await driver.complete(job))
                            }
                        }
                    }
                }
                return try await group.reduce(into: [Int64]()) { $0 += $1 }
            }
            #expect(claims.count == pushed.count, "no job claimed twice")
            #expect(Set(claims) == pushed, "every job claimed")
        }
    }

    // MARK: Poison jobs

    @Test(arguments: TestBackend.available)
    func poisonJobIsDeadLetteredAfterMaxAttemptsWithItsLastError(_ backend: TestBackend) async throws {
        let time = ManualJobClock()
        try await JobQueueHarness.with(backend, clock: time.clock) { h in
            let calls = Locked(0)
            var settings = JobQueueRunner.Settings()
            settings.backoff = RetryBackoff(base: .seconds(1), cap: .seconds(60), maxAttempts: .max)
            let runner = JobQueueRunner(queue: Self.queue, driver: h.driver, settings: settings, logger: .init(label: "test")) { job in
                let n = calls.withLock { $0 += 1; return $0 }
                struct Poison: Error, CustomStringConvertible { let description: String }
                throw Poison(description: "cannot parse payload (call \(n), attempt \(job.attempts))")
            }
            let id = try await h.driver.push(Self.request("poison", maxAttempts: 3))
            let healthy = try await h.driver.push(Self.request("fine", queue: "healthy"))
            for _ in 0..<10 {
                await runner.runOnce()
                time.advance(by: .seconds(120))
            }
            let job = try #require(try await h.driver.job(id: id))
            #expect(job.status == .dead)
            #expect(job.attempts == 3)
            #expect(calls.withLock { $0 } == 3, "tried exactly maxAttempts times")
            #expect(job.lastError == "cannot parse payload (call 3, attempt 3)", "the last error is kept")
            #expect(job.finishedAt != nil && job.claimToken == nil)
            #expect(try await h.driver.claim(queue: Self.queue, limit: 10, visibilityTimeout: .seconds(30)).isEmpty)
            #expect(try await h.driver.job(id: healthy)?.status == .ready, "other queues are untouched")
        }
    }

    /// A consumer that dies on the last attempt (the job crashes it) does not loop forever: the
    /// next claim after the lease ran out dead-letters it.
    @Test(arguments: TestBackend.available)
    func jobWhoseLastAttemptDiedIsDeadLettered(_ backend: TestBackend) async throws {
        let time = ManualJobClock()
        try await JobQueueHarness.with(backend, clock: time.clock) { h in
            let id = try await h.driver.push(Self.request("crasher", maxAttempts: 1))
            _ = try await h.driver.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30))
            time.advance(by: .seconds(31))
            let ran = Locked(false)
            let runner = JobQueueRunner(queue: Self.queue, driver: h.driver, logger: .init(label: "test")) { _ in
                ran.withLock { $0 = true }
                return .completed
            }
            #expect(await runner.runOnce() == 1)
            #expect(!ran.withLock { $0 }, "the handler is not run past max attempts")
            let job = try #require(try await h.driver.job(id: id))
            #expect(job.status == .dead && job.attempts == 2)
        }
    }

    /// The job's own record does not stay pending behind it: what the queue's owner records
    /// for an abandoned job commits with the dead-lettering, with the error that says why.
    @Test(arguments: TestBackend.available)
    func anAbandonedJobsRecordIsWrittenWithItsDeadLetter(_ backend: TestBackend) async throws {
        let time = ManualJobClock()
        try await JobQueueHarness.with(backend, clock: time.clock) { h in
            try await h.database.transaction { db in
                try await db.raw("CREATE TABLE abandoned_records (job_id BIGINT NOT NULL, error TEXT NOT NULL)").run()
            }
            let id = try await h.driver.push(Self.request("crasher", maxAttempts: 1))
            _ = try await h.driver.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30))
            time.advance(by: .seconds(31))
            var settings = JobQueueRunner.Settings()
            settings.recordAbandoned = { job, error in
                { db in try await db.raw("INSERT INTO abandoned_records (job_id, error) VALUES (\(bind: job.id), \(bind: error))").run() }
            }
            let runner = JobQueueRunner(queue: Self.queue, driver: h.driver, settings: settings, logger: .init(label: "test")) { _ in
                .completed
            }
            #expect(await runner.runOnce() == 1)
            #expect(try await h.driver.job(id: id)?.status == .dead)
            let records = try await h.database.read { db in
                try await db.raw("SELECT job_id, error FROM abandoned_records").all().map {
                    (try $0.decode(column: "job_id", as: Int64.self), try $0.decode(column: "error", as: String.self))
                }
            }
            #expect(records.count == 1)
            #expect(records.first?.0 == id)
            #expect(records.first?.1.contains("the lease of its last attempt expired") == true)
        }
    }

    // MARK: Retries and due times

    @Test(arguments: TestBackend.available)
    func retryIsNotClaimableBeforeItsTime(_ backend: TestBackend) async throws {
        let time = ManualJobClock()
        try await JobQueueHarness.with(backend, clock: time.clock) { h in
            let d = h.driver
            let id = try await d.push(Self.request("flaky"))
            let first = try #require(try await d.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30)).first)
            #expect(try await d.retry(first, error: "503 from receiver", at: time.now + 5000))
            #expect(try await d.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30)).isEmpty)
            time.advance(by: .milliseconds(4999))
            #expect(try await d.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30)).isEmpty, "1 ms early")
            time.advance(by: .milliseconds(1))
            let second = try #require(try await d.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30)).first)
            #expect(second.id == id && second.attempts == 2 && second.lastError == "503 from receiver")
            #expect(try await d.complete(second))

            // A job pushed for later waits the same way.
            let later = try await d.push(Self.request("later", notBefore: time.now + 60_000))
            #expect(try await d.claim(queue: Self.queue, limit: 5, visibilityTimeout: .seconds(30)).isEmpty)
            time.advance(by: .seconds(60))
            #expect(try await d.claim(queue: Self.queue, limit: 5, visibilityTimeout: .seconds(30)).map(\.id) == [later])
        }
    }

    // MARK: Ordering keys

    @Test(arguments: TestBackend.available)
    func orderingKeyRunsOneJobAtATimeInOrder(_ backend: TestBackend) async throws {
        let time = ManualJobClock()
        try await JobQueueHarness.with(backend, clock: time.clock) { h in
            let d = h.driver
            for name in ["k1", "k2", "k3"] { _ = try await d.push(Self.request(name, key: "K")) }
            _ = try await d.push(Self.request("l1", key: "L"))
            _ = try await d.push(Self.request("free"))
            let vt = Duration.seconds(30)

            let first = try await d.claim(queue: Self.queue, limit: 10, visibilityTimeout: vt)
            #expect(try Self.names(first) == ["k1", "l1", "free"], "one job per key, the oldest")
            #expect(try await d.claim(queue: Self.queue, limit: 10, visibilityTimeout: vt).isEmpty, "K is busy")

            #expect(try await d.complete(try #require(first.first)))
            let second = try await d.claim(queue: Self.queue, limit: 10, visibilityTimeout: vt)
            #expect(try Self.names(second) == ["k2"])

            // A job waiting for its retry holds its key: k3 does not overtake k2.
            #expect(try await d.retry(try #require(second.first), error: "later", at: time.now + 10_000))
            #expect(try await d.claim(queue: Self.queue, limit: 10, visibilityTimeout: vt).isEmpty)
            time.advance(by: .seconds(10))
            let again = try await d.claim(queue: Self.queue, limit: 10, visibilityTimeout: vt)
            #expect(try Self.names(again) == ["k2"])

            // An expired lease frees the key for the same job, not the next one (l1 and free,
            // claimed at the start and never finished, come back too).
            time.advance(by: .seconds(31))
            let retaken = try await d.claim(queue: Self.queue, limit: 10, visibilityTimeout: vt)
            #expect(try Self.names(retaken) == ["k2", "l1", "free"])
            #expect(try await d.complete(try #require(retaken.first)))
            #expect(try Self.names(try await d.claim(queue: Self.queue, limit: 10, visibilityTimeout: vt)) == ["k3"])
        }
    }

    /// Four consumers on two replicas drain keyed jobs: never two of one key in flight, and
    /// each key's jobs finish in the order they were pushed.
    @Test(arguments: TestBackend.available)
    func orderingKeyHoldsUnderConcurrentConsumers(_ backend: TestBackend) async throws {
        try await JobQueueHarness.with(backend) { h in
            let keys = ["a", "b", "c"]
            var expected: [String: [Int64]] = [:]
            for n in 0..<60 {
                let key = keys[n % keys.count]
                expected[key, default: []].append(try await h.driver.push(Self.request("\(key)\(n)", key: key)))
            }
            let inFlight = Locked<Set<String>>([])
            let finished = Locked<[String: [Int64]]>([:])
            let overlaps = Locked(0)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for consumer in 0..<4 {
                    let driver = h.drivers[consumer % 2]
                    group.addTask {
                        var idle = 0
                        while idle < 3 {
                            let jobs = try await driver.claim(queue: Self.queue, limit: 3, visibilityTimeout: .seconds(60))
                            if jobs.isEmpty { idle += 1; await Task.yield(); continue }
                            idle = 0
                            for job in jobs {
                                let key = try #require(job.orderingKey)
                                if !inFlight.withLock({ $0.insert(key).inserted }) { overlaps.withLock { $0 += 1 } }
                            }
                            await Task.yield()
                            for job in jobs {
                                finished.withLock { $0[job.orderingKey!, default: []].append(job.id) }
                                inFlight.withLock { _ = $0.remove(job.orderingKey!) }
                                #expect(try await driver.complete(job))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            // Stragglers an idle consumer gave up on are drained here, still one at a time.
            while true {
                let jobs = try await h.driver.claim(queue: Self.queue, limit: 10, visibilityTimeout: .seconds(60))
                if jobs.isEmpty { break }
                #expect(Set(jobs.compactMap(\.orderingKey)).count == jobs.count)
                for job in jobs {
                    finished.withLock { $0[job.orderingKey!, default: []].append(job.id) }
                    #expect(try await h.driver.complete(job))
                }
            }
            #expect(overlaps.withLock { $0 } == 0, "two jobs of one key were in flight at once")
            #expect(finished.withLock { $0 } == expected, "each key in push order, every job once")
        }
    }

    // MARK: Cancel and prune

    @Test(arguments: TestBackend.available)
    func cancelByReference(_ backend: TestBackend) async throws {
        try await JobQueueHarness.with(backend) { h in
            let d = h.driver
            _ = try await d.push(Self.request("invite-1", reference: "invitation:7"))
            let claimed = try #require(try await d.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30)).first)
            _ = try await d.push(Self.request("invite-1 reminder", reference: "invitation:7"))
            let keep = try await d.push(Self.request("invite-2", reference: "invitation:8"))
            let otherQueue = try await d.push(Self.request("same reference elsewhere", queue: "other", reference: "invitation:7"))

            #expect(try await d.cancel(queue: Self.queue, reference: "invitation:7") == 2)
            #expect(try await d.jobs(queue: Self.queue, reference: "invitation:7").isEmpty)
            #expect(try await !d.complete(claimed), "a cancelled job's outcome is refused")
            #expect(try await d.claim(queue: Self.queue, limit: 10, visibilityTimeout: .seconds(30)).map(\.id) == [keep])
            #expect(try await d.job(id: otherQueue)?.status == .ready)

            // Finished jobs are history, not cancellable.
            let kept = try #require(try await d.jobs(queue: Self.queue, reference: "invitation:8").first)
            #expect(try await d.complete(kept))
            #expect(try await d.cancel(queue: Self.queue, reference: "invitation:8") == 0)
            #expect(try await d.job(id: keep)?.status == .done)
        }
    }

    /// Cancelling inside the caller's transaction: the jobs go only if it commits.
    @Test(arguments: TestBackend.available)
    func cancelInATransactionGoesWithIt(_ backend: TestBackend) async throws {
        try await JobQueueHarness.with(backend) { h in
            let d = h.driver
            let id = try await d.push(Self.request("invite", reference: "invitation:9"))
            struct RolledBack: Error {}
            await #expect(throws: RolledBack.self) {
                try await h.database.transaction { db in
                    #expect(try await d.cancel(queue: Self.queue, reference: "invitation:9", in: db) == 1)
                    throw RolledBack()
                }
            }
            #expect(try await d.job(id: id)?.status == .ready, "rolled back with the transaction")
            let cancelled = try await h.database.transaction { db in try await d.cancel(queue: Self.queue, reference: "invitation:9", in: db) }
            #expect(cancelled == 1)
            #expect(try await d.job(id: id) == nil)
        }
    }

    @Test(arguments: TestBackend.available)
    func pruneDeletesOnlyOldFinishedJobs(_ backend: TestBackend) async throws {
        let time = ManualJobClock()
        try await JobQueueHarness.with(backend, clock: time.clock) { h in
            let d = h.driver
            let old = try await d.push(Self.request("old"))
            let oldDead = try await d.push(Self.request("old dead"))
            let waiting = try await d.push(Self.request("waiting", notBefore: time.now + 3_600_000))
            for job in try await d.claim(queue: Self.queue, limit: 10, visibilityTimeout: .seconds(30)) {
                _ = job.id == old ? try await d.complete(job) : try await d.deadLetter(job, error: "gone")
            }
            let cutoff = time.now + 1
            time.advance(by: .seconds(10))
            let recent = try await d.push(Self.request("recent"))
            for job in try await d.claim(queue: Self.queue, limit: 10, visibilityTimeout: .seconds(30)) { #expect(try await d.complete(job)) }

            #expect(try await d.prune(queue: "other", finishedBefore: cutoff) == 0)
            #expect(try await d.prune(queue: Self.queue, finishedBefore: cutoff) == 2)
            #expect(try await d.job(id: old) == nil)
            #expect(try await d.job(id: oldDead) == nil)
            #expect(try await d.job(id: waiting)?.status == .ready, "unfinished jobs are never pruned")
            #expect(try await d.job(id: recent)?.status == .done)
        }
    }

    // MARK: Outcomes with domain SQL

    /// The outcome and the domain change it records commit together or not at all.
    @Test(arguments: TestBackend.available)
    func completeWithDomainSQLCommitsBothOrNeither(_ backend: TestBackend) async throws {
        let time = ManualJobClock()
        try await JobQueueHarness.with(backend, clock: time.clock) { h in
            let d = h.driver
            try await h.database.transaction { db in
                try await db.raw("CREATE TABLE job_effects (job_id \(unsafeRaw: h.database.flavor.bigint) NOT NULL, note TEXT NOT NULL)").run()
            }
            let effects: @Sendable () async throws -> [String] = {
                try await h.database.read { db in
                    try await db.raw("SELECT note FROM job_effects ORDER BY note").all().map { try $0.decode(column: "note", as: String.self) }
                }
            }
            struct DomainFailure: Error {}

            let id = try await d.push(Self.request("send"))
            let job = try #require(try await d.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30)).first)
            // The domain SQL fails: the job stays claimed and nothing is written.
            await #expect(throws: DomainFailure.self) {
                _ = try await d.complete(job) { db in
                    try await db.raw("INSERT INTO job_effects (job_id, note) VALUES (\(bind: job.id), 'half')").run()
                    throw DomainFailure()
                }
            }
            #expect(try await effects().isEmpty)
            let still = try #require(try await d.job(id: id))
            #expect(still.status == .ready && still.claimToken == job.claimToken)

            // Both commit.
            #expect(try await d.complete(job) { db in
                try await db.raw("INSERT INTO job_effects (job_id, note) VALUES (\(bind: job.id), 'sent')").run()
            })
            #expect(try await effects() == ["sent"])
            #expect(try await d.job(id: id)?.status == .done)

            // A lost claim runs no domain SQL: retry and dead-letter behave the same.
            _ = try await d.push(Self.request("second"))
            let stale = try #require(try await d.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30)).first)
            time.advance(by: .seconds(31))
            let fresh = try #require(try await h.drivers[1].claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30)).first)
            let record: JobTransactionBody = { db in
                try await db.raw("INSERT INTO job_effects (job_id, note) VALUES (\(bind: stale.id), 'stale')").run()
            }
            #expect(try await !d.complete(stale, record))
            #expect(try await !d.retry(stale, error: "x", at: time.now, record))
            #expect(try await !d.deadLetter(stale, error: "x", record))
            #expect(try await effects() == ["sent"])
            #expect(try await h.drivers[1].deadLetter(fresh, error: "receiver gone") { db in
                try await db.raw("INSERT INTO job_effects (job_id, note) VALUES (\(bind: fresh.id), 'failure recorded')").run()
            })
            #expect(try await effects() == ["failure recorded", "sent"])
        }
    }

    // MARK: Wake-ups

    /// The fallback poll of the consumers in the wake-up tests: anything they claim sooner came
    /// from a wake-up.
    static let testFallbackPoll = Duration.seconds(300)
    /// A consumer must be woken sooner than this after the push returns. Alone that takes
    /// milliseconds (the change's report has numbers); the bound is loose because the whole
    /// suite runs in parallel on small machines, where a woken task can wait for a thread.
    static let wakeBound = Duration.seconds(20)

    /// When a push started and returned, and when the consumer was woken for the claim that
    /// got the job and made that claim.
    struct WakeTiming {
        let pushStarted, pushReturned, woken, claimed: ContinuousClock.Instant

        /// From the push's return to the wake-up (zero when the consumer was woken first, as on
        /// SQLite where a push signals before its transaction commits).
        var wakeLatency: Duration { Swift.max(.zero, woken - pushReturned) }
        var claimLatency: Duration { claimed - pushStarted }
    }

    /// Pushes (with `push`) once a consumer of `consumer.wakeUps` is suspended, and times the
    /// wake-up that leads to claiming the job. Fails when the consumer has not claimed the job
    /// within twice `wakeBound` (its fallback poll is `testFallbackPoll`).
    static func timeWakeUp(consumer: any JobQueueDriver, push: @Sendable () async throws -> Void) async throws -> WakeTiming {
        try await withThrowingTaskGroup(of: (woken: ContinuousClock.Instant, claimed: ContinuousClock.Instant).self) { group in
            group.addTask {
                for await _ in consumer.wakeUps(queue: Self.queue, fallbackPoll: Self.testFallbackPoll) {
                    let woken = ContinuousClock.now
                    let jobs = try await consumer.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30))
                    if let job = jobs.first {
                        let claimed = ContinuousClock.now
                        #expect(try await consumer.complete(job))
                        return (woken, claimed)
                    }
                }
                throw CancellationError()
            }
            // Push only once the consumer is suspended, so the wake-up path is what is measured.
            let deadline = ContinuousClock.now + .seconds(60)
            while JobQueueHarness.waitingConsumers(consumer) == 0 {
                guard ContinuousClock.now < deadline else { throw TestFailure("the consumer never waited") }
                try await Task.sleep(for: .milliseconds(5))
            }
            let pushStarted = ContinuousClock.now
            try await push()
            let pushReturned = ContinuousClock.now
            group.addTask {
                try await Task.sleep(for: Self.wakeBound * 2)
                throw TestFailure("no wake-up within \(Self.wakeBound * 2) of the push (the fallback poll is \(Self.testFallbackPoll))")
            }
            let consumer = try await group.next()!
            group.cancelAll()
            return WakeTiming(pushStarted: pushStarted, pushReturned: pushReturned, woken: consumer.woken, claimed: consumer.claimed)
        }
    }

    @Test(arguments: TestBackend.available)
    func pushWakesAWaitingConsumerAtOnce(_ backend: TestBackend) async throws {
        try await JobQueueHarness.with(backend) { h in
            let d = h.driver
            var report: [String] = []
            func check(_ what: String, _ timing: WakeTiming) {
                #expect(timing.wakeLatency < Self.wakeBound, "\(what): woken \(timing.wakeLatency) after the push returned")
                report.append("\(what): woken after \(timing.wakeLatency), claimed \(timing.claimLatency) after the push started")
            }
            check("own transaction", try await Self.timeWakeUp(consumer: d) { _ = try await d.push(Self.request("own")) })
            // Pushed in the caller's transaction: the job is claimable once that commits.
            check("caller's transaction", try await Self.timeWakeUp(consumer: d) {
                try await h.database.transaction { db in _ = try await d.push(Self.request("in tx"), in: db) }
            })
            if backend == .postgres {
                // Another replica's push reaches this one through NOTIFY.
                let (a, b) = (h.drivers[0], h.drivers[1])
                check("other replica", try await Self.timeWakeUp(consumer: a) { _ = try await b.push(Self.request("from b")) })
                check("other replica, caller's transaction", try await Self.timeWakeUp(consumer: a) {
                    try await h.databases[1].transaction { db in _ = try await b.push(Self.request("from b in tx"), in: db) }
                })
            }
            print("wake-up latency (\(backend)): " + report.joined(separator: "; "))
        }
    }

    /// A job given back for a retry in 500 ms wakes a waiting consumer then, not at the poll.
    @Test(arguments: TestBackend.available)
    func dueRetryWakesAWaitingConsumerAtItsTime(_ backend: TestBackend) async throws {
        try await JobQueueHarness.with(backend) { h in
            let d = h.driver
            _ = try await d.push(Self.request("flaky"))
            let job = try #require(try await d.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30)).first)
            // On PostgreSQL the consumer is the other replica; on SQLite wake-ups are in-process.
            let consumer = backend == .postgres ? h.drivers[1] : d
            let timing = try await Self.timeWakeUp(consumer: consumer) {
                let retried = try await d.retry(job, error: "try later", at: Clock.nowMillis() + 500)
                #expect(retried)
            }
            let due = timing.pushStarted + .milliseconds(500)
            #expect(timing.claimed - timing.pushStarted >= .milliseconds(450), "claimed before its time: \(timing.claimLatency)")
            #expect(timing.woken - due < Self.wakeBound, "woken \(timing.woken - due) after the retry's time")
        }
    }

    /// A retry that falls due while the consumer is claiming (after the instant its claim looked
    /// at, before it waits again) is claimed at once, not at the fallback poll.
    @Test(arguments: TestBackend.available)
    func jobFallingDueDuringAClaimIsNotMissed(_ backend: TestBackend) async throws {
        let time = ManualJobClock()
        try await JobQueueHarness.with(backend, clock: time.clock) { h in
            let d = h.driver
            _ = try await d.push(Self.request("flaky"))
            let job = try #require(try await d.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30)).first)
            #expect(try await d.retry(job, error: "try later", at: time.now + 500))
            let claimed = try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask {
                    var wakeUps = d.wakeUps(queue: Self.queue, fallbackPoll: Self.testFallbackPoll).makeAsyncIterator()
                    _ = await wakeUps.next()
                    #expect(try await d.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30)).isEmpty, "not due yet")
                    time.advance(by: .milliseconds(600))
                    _ = await wakeUps.next()
                    return try await d.claim(queue: Self.queue, limit: 1, visibilityTimeout: .seconds(30)).count
                }
                group.addTask {
                    try await Task.sleep(for: Self.wakeBound * 2)
                    throw TestFailure("the consumer slept past a job that fell due during its claim")
                }
                let claimed = try await group.next()!
                group.cancelAll()
                return claimed
            }
            #expect(claimed == 1)
        }
    }

    /// The `LISTEN` connection comes back after PostgreSQL drops it, and wake-ups with it.
    @Test func listenerReconnectsAfterItsConnectionDrops() async throws {
        guard TestBackend.available.contains(.postgres) else { return }
        try await JobQueueHarness.with(.postgres) { h in
            let (a, b) = (h.drivers[0], h.drivers[1])
            let listener = try #require(a as? PostgresJobQueueDriver)
            let terminated = try await h.databases[1].read { db in
                try await db.raw("""
                    SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
                    WHERE datname = current_database() AND query ILIKE 'LISTEN%'
                    """).all().count
            }
            #expect(terminated == 2, "both replicas' listeners")
            try await h.waitUntil("replica A listens again") { listener.listenerConnections >= 2 }
            let timing = try await Self.timeWakeUp(consumer: a) { _ = try await b.push(Self.request("after reconnect")) }
            #expect(timing.wakeLatency < Self.wakeBound, "wake-up after the reconnect: \(timing.wakeLatency)")
        }
    }

    /// Cancelling the driver's service ends it promptly (no task left listening).
    @Test(arguments: TestBackend.available)
    func driverServiceEndsWhenCancelled(_ backend: TestBackend) async throws {
        try await JobQueueHarness.with(backend, replicas: 1) { h in
            let driver = try JobQueueDrivers.driver(for: h.database, logger: .init(label: "test"))
            let ended = Locked(false)
            let task = Task {
                try? await driver.run()
                ended.withLock { $0 = true }
            }
            if let postgres = driver as? PostgresJobQueueDriver {
                try await h.waitUntil("it listens") { postgres.listenerConnections == 1 }
            }
            task.cancel()
            try await h.waitUntil("the service returned", timeout: .seconds(5)) { ended.withLock { $0 } }
            if backend == .postgres {
                try await h.waitUntil("its LISTEN connection is released") {
                    try await h.database.read { db in
                        try await db.raw("""
                            SELECT count(*) AS n FROM pg_stat_activity
                            WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND state = 'idle'
                            """).first()?.decode(column: "n", as: Int64.self) == 1
                    }
                }
            }
        }
    }
}
