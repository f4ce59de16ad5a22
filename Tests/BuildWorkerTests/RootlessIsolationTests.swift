// Rootless isolation and build limits on the worker side: subordinate id ranges, the command
// line that enters a control group and drops to the build user, control-group layouts (against
// a directory laid out like each cgroup version), and, where this machine allows it, the real
// kernel: a builder run as the build user, and a process limit that stops a fork loop.

import BuildProtocol
@testable import BuildWorker
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct SubordinateIDTests {
    @Test func parsesRangesAndSkipsMalformedLines() {
        let ranges = SubordinateIDs.parse("alice:100000:65536\nbroken\nbob:x:1\n1001:165536:65536\n")
        #expect(ranges == [.init(owner: "alice", start: 100_000, count: 65_536), .init(owner: "1001", start: 165_536, count: 65_536)])
        #expect(SubordinateIDs.range(of: ["carol", "1001"], in: "1001:165536:65536\n")?.start == 165_536)
        #expect(SubordinateIDs.range(of: ["carol"], in: "alice:100000:65536\n") == nil)
    }

    @Test func aFreeRangeOverlapsNoExistingOne() {
        #expect(SubordinateIDs.freeStart(count: 65_536, in: "") == 100_000)
        let taken = "a:100000:65536\nb:231072:65536\nc:165536:65536\n"
        let start = SubordinateIDs.freeStart(count: 65_536, in: taken)
        for range in SubordinateIDs.parse(taken) {
            #expect(start >= range.end || start + 65_536 <= range.start, "\(start) overlaps \(range)")
        }
        #expect(start % 65_536 == 0)
        // A range far above leaves the gap below it usable.
        #expect(SubordinateIDs.freeStart(count: 65_536, in: "x:1000000:65536\n") == 100_000)
    }
}

@Suite struct BuildLimitsInvocationTests {
    @Test func withoutUserOrLimitsTheBuilderRunsDirectly() {
        let invocation = BuilderInvocation(executable: "buildah", arguments: ["bud", "."], environment: [:], workingDirectory: "/")
        #expect(invocation.commandLine(resolvedExecutable: "/usr/bin/buildah") == ["/usr/bin/buildah", "bud", "."])
    }

    @Test func aUserAndLimitsWrapTheBuilder() {
        let user = BuildUser(name: "b", uid: 999, gid: 995, home: "/var/lib/b")
        let invocation = BuilderInvocation(executable: "buildah", arguments: ["bud", "."], environment: [:], workingDirectory: "/",
                                           user: user, cgroupProcs: ["/cg/a/cgroup.procs", "/cg/b/cgroup.procs"])
        #expect(invocation.commandLine(resolvedExecutable: "/usr/bin/buildah") == [
            "/bin/sh", "-c", BuilderInvocation.enterScript, "sh", "/cg/a/cgroup.procs", "/cg/b/cgroup.procs", "--",
            "/usr/bin/setpriv", "--reuid=999", "--regid=995", "--clear-groups", "--", "/usr/bin/buildah", "bud", "."])
    }

    /// The entering shell writes the pid of the process that becomes the builder (plain files
    /// stand in for `cgroup.procs`), and a file it cannot write stops the run before the builder.
    @Test func theChildEntersEveryGroupBeforeItExecutes() async throws {
        let scratch = try Scratch("cgroup-enter")
        let a = scratch.sub("a").path, b = scratch.sub("b").path
        let lines = Lines()
        let invocation = BuilderInvocation(executable: "/bin/sh", arguments: ["-c", "echo self=$$"], environment: ["PATH": "/usr/bin:/bin"],
                                           workingDirectory: scratch.path, cgroupProcs: [a, b])
        let end = try await BuilderProcess.run(invocation) { lines.append($0) }
        #expect(end.succeeded)
        let pid = try String(contentsOfFile: a, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try String(contentsOfFile: b, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == pid)
        #expect(lines.all == ["self=\(pid)"])

        let refused = BuilderInvocation(executable: "/bin/sh", arguments: ["-c", "echo BUILDER-RAN"], environment: ["PATH": "/usr/bin:/bin"],
                                        workingDirectory: scratch.path, cgroupProcs: [scratch.path + "/missing/cgroup.procs"])
        let lines2 = Lines()
        let failed = try await BuilderProcess.run(refused) { lines2.append($0) }
        #expect(failed.status == .exited(125))
        #expect(!lines2.all.contains("BUILDER-RAN"))
        #expect(lines2.all.contains { $0.contains("cannot enter the build's control group") })
    }

    @Test(.enabled(if: geteuid() == 0 && BuildUser.lookup("nobody") != nil))
    func theBuilderRunsWithTheBuildUsersIds() async throws {
        let nobody = try #require(BuildUser.lookup("nobody"))
        let lines = Lines()
        let invocation = BuilderInvocation(executable: "/bin/sh", arguments: ["-c", "id -u; id -g; id -G"], environment: ["PATH": "/usr/bin:/bin"],
                                           workingDirectory: "/", user: nobody)
        let end = try await BuilderProcess.run(invocation) { lines.append($0) }
        #expect(end.succeeded)
        #expect(lines.all == ["\(nobody.uid)", "\(nobody.gid)", "\(nobody.gid)"])
    }
}

@Suite struct BuildCgroupLayoutTests {
    let limits = BuildLimits(cpuMillicores: 1500, memoryBytes: 256 << 20, pids: 64)

    @Test func unifiedLayout() throws {
        let scratch = try Scratch("cgroup-v2")
        let root = scratch.path
        try "cpu io memory pids\n".write(toFile: root + "/cgroup.controllers", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: root + "/cgroup.subtree_control", contents: nil)
        let group = try BuildCgroup.create(name: "build-1", limits: limits, root: root)
        let directory = root + "/slipway-builds/build-1"
        #expect(group.procsFiles == [directory + "/cgroup.procs"])
        #expect(try String(contentsOfFile: directory + "/cpu.max", encoding: .utf8) == "150000 100000")
        #expect(try String(contentsOfFile: directory + "/memory.max", encoding: .utf8) == "\(256 << 20)")
        #expect(try String(contentsOfFile: directory + "/pids.max", encoding: .utf8) == "64")
        #expect(try String(contentsOfFile: root + "/cgroup.subtree_control", encoding: .utf8) == "+cpu +memory +pids")
        #expect(group.exceededLimit() == nil)
        try "max 3\n".write(toFile: directory + "/pids.events", atomically: true, encoding: .utf8)
        #expect(group.exceededLimit()?.contains("limit of 64 processes") == true)
        try "low 0\noom 1\noom_kill 1\n".write(toFile: directory + "/memory.events", atomically: true, encoding: .utf8)
        #expect(group.exceededLimit()?.contains("ran out of memory") == true)
    }

    @Test func perControllerLayout() throws {
        let scratch = try Scratch("cgroup-v1")
        let root = scratch.path
        for controller in ["cpu,cpuacct", "memory", "pids"] {
            try FileManager.default.createDirectory(atPath: root + "/" + controller, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: root + "/" + controller + "/cgroup.procs", contents: nil)
        }
        let group = try BuildCgroup.create(name: "b", limits: limits, root: root)
        #expect(group.procsFiles.sorted() == ["cpu,cpuacct", "memory", "pids"].map { root + "/" + $0 + "/slipway-builds/b/cgroup.procs" }.sorted())
        #expect(try String(contentsOfFile: root + "/cpu,cpuacct/slipway-builds/b/cpu.cfs_quota_us", encoding: .utf8) == "150000")
        #expect(try String(contentsOfFile: root + "/memory/slipway-builds/b/memory.limit_in_bytes", encoding: .utf8) == "\(256 << 20)")
        #expect(try String(contentsOfFile: root + "/pids/slipway-builds/b/pids.max", encoding: .utf8) == "64")
        // Only the limited resources get a group.
        let pidsOnly = try BuildCgroup.create(name: "c", limits: BuildLimits(pids: 10), root: root)
        #expect(pidsOnly.procsFiles == [root + "/pids/slipway-builds/c/cgroup.procs"])
        // A controller that is not mounted is an error, not a silently unlimited build.
        #expect(throws: BuildCgroupError.self) { try BuildCgroup.create(name: "d", limits: limits, root: scratch.sub("empty").path) }
    }

    /// The real kernel (this machine's cgroup v1 or v2, as root): a fork loop past the process
    /// limit fails, the group says which limit, and removing it leaves no process behind.
    @Test(.enabled(if: geteuid() == 0 && (access("/sys/fs/cgroup/pids", W_OK) == 0 || access("/sys/fs/cgroup/cgroup.controllers", R_OK) == 0)))
    func aForkLoopHitsTheRealProcessLimit() async throws {
        let group = try BuildCgroup.create(name: "slipway-test-\(getpid())", limits: BuildLimits(pids: 16))
        defer { group.remove() }
        let scratch = try Scratch("cgroup-real")
        let lines = Lines()
        let invocation = BuilderInvocation(executable: "/bin/sh", arguments: ["-c", "for i in $(seq 40); do sleep 5 & done; wait"],
                                           environment: ["PATH": "/usr/bin:/bin"], workingDirectory: scratch.path,
                                           timeout: .seconds(60), cgroupProcs: group.procsFiles)
        _ = try await BuilderProcess.run(invocation) { lines.append($0) }
        #expect(lines.all.contains { $0.contains("fork") || $0.contains("Resource temporarily unavailable") }, "\(lines.all.prefix(5))")
        #expect(group.exceededLimit()?.contains("limit of 16 processes") == true)
        group.remove()
        #expect(!FileManager.default.fileExists(atPath: group.procsFiles[0]))
    }
}

/// Output lines collected from a run's thread.
private final class Lines: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ line: String) { lock.withLock { stored.append(line) } }
    var all: [String] { lock.withLock { stored } }
}
