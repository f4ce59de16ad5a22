// Multi-architecture builds (#18), orchestrator side: the `platforms` field's validation, the
// scheduler leasing a build only to a worker that runs all of its platforms, and the reason a
// waiting build gives when no connected worker can. The end-to-end proof with buildah and qemu is
// Tests/e2e/test_multiarch_build.py.

@testable import BuildOrchestrator
import BuildProtocol
import Testing

@Suite("Build platforms")
struct BuildPlatformsTests {
    @Test func knownPlatformsAreAcceptedInTheirOrder() throws {
        #expect(try BuildPlatforms.validated(nil) == [])
        #expect(try BuildPlatforms.validated([]) == [])
        #expect(try BuildPlatforms.validated(["linux/arm64", "linux/amd64", "linux/arm/v7"]) == ["linux/arm64", "linux/amd64", "linux/arm/v7"])
        #expect(try BuildPlatforms.validated(BuildPlatform.known) == BuildPlatform.known)
    }

    @Test(arguments: [
        (["linux/m68k"], "\"linux/m68k\" is not a known platform"),
        (["linux/arm64/v8"], "is not a known platform"),
        (["Linux/AMD64"], "is not a known platform"),
        ([""], "is not a known platform"),
        (["linux/amd64", "linux/amd64"], "linux/amd64 is listed twice"),
        (Array(repeating: "linux/amd64", count: 9), "at most 8 platforms"),
    ])
    func badPlatformsAreRefusedWithTheReason(platforms: [String], words: String) {
        #expect {
            _ = try BuildPlatforms.validated(platforms)
        } throws: { error in
            (error as? BuildInputError)?.message.contains(words) == true
        }
    }

    @Test func theQemuEntryAndNativePlatformOfEachArchitecture() throws {
        #expect(BuildPlatform("linux/arm64")?.qemuBinfmtName == "qemu-aarch64")
        #expect(BuildPlatform("linux/arm/v7")?.qemuBinfmtName == "qemu-arm")
        #expect(BuildPlatform("linux/386")?.qemuBinfmtName == "qemu-i386")
        #expect(BuildPlatform("linux/amd64")?.qemuBinfmtName == "qemu-x86_64")
        #expect(BuildPlatform("linux/riscv64")?.qemuBinfmtName == "qemu-riscv64")
        #expect(BuildPlatform.native(machine: "x86_64")?.description == "linux/amd64")
        #expect(BuildPlatform.native(machine: "aarch64")?.description == "linux/arm64")
        #expect(BuildPlatform.native(machine: "mips") == nil)
        let v6 = try #require(BuildPlatform("linux/arm/v6"))
        #expect(v6.os == "linux" && v6.architecture == "arm" && v6.variant == "v6" && v6.description == "linux/arm/v6")
    }

    @Test func aMultiPlatformBuildGoesOnlyToAWorkerThatRunsAllItsPlatforms() throws {
        let clock = MockClock()
        var state = Scheduler()
        let multi = Scheduler.Build(id: "multi", namespace: "ns", repository: "app", platforms: ["linux/amd64", "linux/arm64"])
        #expect(state.enqueue(multi, now: clock.now) == .accepted)
        // A worker that reports nothing (older), and one that runs amd64 only, get nothing.
        #expect(state.lease(workerID: "old", now: clock.now).lease == nil)
        #expect(state.lease(workerID: "amd64-only", platforms: ["linux/amd64"], now: clock.now).lease == nil)
        #expect(state.queuedBuilds.map(\.build.id) == ["multi"])
        // One with arm64 emulation takes it.
        let lease = try #require(state.lease(workerID: "emulating", platforms: ["linux/amd64", "linux/arm64", "linux/s390x"], now: clock.now).lease)
        #expect(lease.build.id == "multi" && lease.build.platforms == ["linux/amd64", "linux/arm64"])
    }

    @Test func aBuildNoWorkerCanRunDoesNotHoldUpOtherRepositoriesButKeepsItsOwnOrder() throws {
        let clock = MockClock()
        var state = Scheduler()
        #expect(state.enqueue(Scheduler.Build(id: "arm", namespace: "ns", repository: "a", platforms: ["linux/arm64"]), now: clock.now) == .accepted)
        #expect(state.enqueue(Scheduler.Build(id: "a-next", namespace: "ns", repository: "a"), now: clock.now) == .accepted)
        #expect(state.enqueue(Scheduler.Build(id: "b", namespace: "ns", repository: "b"), now: clock.now) == .accepted)
        // The amd64-only worker skips the arm64 build and a's younger build waits behind it;
        // b's build runs.
        let first = try #require(state.lease(workerID: "amd64", platforms: ["linux/amd64"], now: clock.now).lease)
        #expect(first.build.id == "b")
        #expect(state.lease(workerID: "amd64-2", platforms: ["linux/amd64"], now: clock.now).lease == nil)
        let second = try #require(state.lease(workerID: "arm", platforms: ["linux/arm64"], now: clock.now).lease)
        #expect(second.build.id == "arm")
    }

    @Test func aSinglePlatformBuildStillGoesToAnyWorker() throws {
        let clock = MockClock()
        var state = Scheduler()
        #expect(state.enqueue(build("plain", "ns", "app"), now: clock.now) == .accepted)
        #expect(try #require(state.lease(workerID: "old", now: clock.now).lease).build.id == "plain")
    }

    @Test func theWaitingReasonNamesWhatNoConnectedWorkerRuns() {
        var workers = ConnectedWorkers()
        let start = ContinuousClock.now
        #expect(workers.waitingReason(platforms: [], busy: [], now: start) == nil)
        let none = workers.waitingReason(platforms: ["linux/amd64", "linux/arm64"], busy: [], now: start)
        #expect(none?.contains("no connected worker can build linux/amd64, linux/arm64") == true)
        #expect(none?.contains("qemu-user-static") == true)

        workers.seen("amd64", platforms: ["linux/amd64"], now: start)
        workers.seen("arm64", platforms: ["linux/arm64"], now: start)
        let split = workers.waitingReason(platforms: ["linux/amd64", "linux/arm64"], busy: [], now: start)
        #expect(split?.contains("no connected worker can build all of linux/amd64, linux/arm64") == true)
        #expect(workers.waitingReason(platforms: ["linux/arm64"], busy: [], now: start) == nil)
        #expect(workers.waitingReason(platforms: ["linux/s390x"], busy: [], now: start)?.contains("build linux/s390x:") == true)

        // A worker not heard from for a while is gone, unless it is busy with a lease.
        let later = start + ConnectedWorkers.window + .seconds(1)
        #expect(workers.waitingReason(platforms: ["linux/arm64"], busy: [], now: later) != nil)
        #expect(workers.waitingReason(platforms: ["linux/arm64"], busy: ["arm64"], now: later) == nil)
    }
}
