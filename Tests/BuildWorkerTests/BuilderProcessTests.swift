@testable import BuildWorker
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

struct BuilderProcessTests {
    private func shell(_ script: String, timeout: Duration? = nil, grace: Duration = .seconds(5)) -> BuilderInvocation {
        BuilderInvocation(executable: "sh", arguments: ["-c", script], environment: ["PATH": "/usr/bin:/bin"],
                          workingDirectory: "/tmp", timeout: timeout, killGrace: grace)
    }

    private func groupIsGone(_ pgid: Int32) -> Bool {
        BuilderProcess.liveMembers(ofGroup: pgid).isEmpty
    }

    @Test func mergesOutputInOrderAndReportsTheExitStatus() async throws {
        let lines = LineCollector()
        let result = try await BuilderProcess.run(shell("echo one; echo two >&2; printf 'three\\r\\nfour'; exit 3")) { lines.append($0) }
        #expect(lines.all == ["one", "two", "three", "four"])
        #expect(result.status == .exited(3))
        #expect(result.stoppedBy == nil)
        #expect(!result.succeeded)
        #expect(groupIsGone(result.processGroup))
        try await waitUntilGroupIsReaped(result.processGroup)
    }

    @Test func runsInTheWorkingDirectoryWithOnlyTheGivenEnvironment() async throws {
        let lines = LineCollector()
        let invocation = BuilderInvocation(executable: "sh", arguments: ["-c", "pwd; echo \"[$HOME][$ONLY]\""],
                                           environment: ["PATH": "/usr/bin:/bin", "ONLY": "me"], workingDirectory: "/usr")
        let result = try await BuilderProcess.run(invocation) { lines.append($0) }
        #expect(result.succeeded)
        #expect(lines.all == ["/usr", "[][me]"])
    }

    /// A descriptor this process opened without O_CLOEXEC (as libraries and sockets may) does
    /// not reach the builder: it sees stdin, stdout and stderr only.
    @Test func theBuilderInheritsNoOtherOpenFile() async throws {
        let leaked = open("/etc/hostname", O_RDONLY)  // deliberately without O_CLOEXEC
        #expect(leaked > 2)
        defer { close(leaked) }
        let lines = LineCollector()
        // `ls`, a child of the shell, lists the shell's descriptors (its own are not in the list).
        let result = try await BuilderProcess.run(shell("ls /proc/$$/fd")) { lines.append($0) }
        #expect(result.succeeded)
        #expect(!lines.all.contains(String(leaked)), "the builder inherited descriptor \(leaked): \(lines.all)")
        #expect(Set(lines.all) == ["0", "1", "2"], "\(lines.all)")
    }

    @Test func ownProcessGroup() async throws {
        let lines = LineCollector()
        let result = try await BuilderProcess.run(shell("ps -o pgid= -p $$")) { lines.append($0) }
        #expect(lines.all.first?.trimmingCharacters(in: .whitespaces) == String(result.processGroup))
        #expect(result.processGroup != getpgrp())
    }

    @Test func missingExecutableThrows() async {
        await #expect(throws: BuilderProcessError.self) {
            _ = try await BuilderProcess.run(BuilderInvocation(executable: "no-such-builder-xyz", arguments: [], environment: [:],
                                                                workingDirectory: "/tmp")) { _ in }
        }
    }

    @Test func timeoutKillsTheWholeGroup() async throws {
        let started = ContinuousClock.now
        let result = try await BuilderProcess.run(shell("sleep 301 & sleep 302 & wait", timeout: .milliseconds(300))) { _ in }
        #expect(result.stoppedBy == .timedOut)
        #expect(result.status == .signaled(SIGTERM))
        // The children sleep for 300 s: finishing well before that means they were killed, not waited for
        // (the bound is loose because a loaded CI machine can take seconds to start a shell).
        #expect(ContinuousClock.now - started < .seconds(60))
        #expect(groupIsGone(result.processGroup))
        try await waitUntilGroupIsReaped(result.processGroup)
    }

    @Test func cancellationEscalatesToSIGKILLAfterTheGrace() async throws {
        let lines = LineCollector()
        let task = Task {
            try await BuilderProcess.run(shell("trap '' TERM; echo ready; sleep 303; sleep 303", grace: .milliseconds(500))) { lines.append($0) }
        }
        try await waitFor("ready") { lines.contains("ready") }
        let cancelled = ContinuousClock.now
        task.cancel()
        let result = try await task.value
        #expect(result.stoppedBy == .cancelled)
        #expect(result.status == .signaled(SIGKILL))
        let elapsed = ContinuousClock.now - cancelled
        #expect(elapsed >= .milliseconds(450) && elapsed < .seconds(8))
        #expect(groupIsGone(result.processGroup))
        try await waitUntilGroupIsReaped(result.processGroup)
    }

    @Test func stragglersHoldingTheOutputAreKilledWhenTheMainChildExits() async throws {
        let started = ContinuousClock.now
        let lines = LineCollector()
        // The subshell's sleep outlives `sh` and keeps the pipe open.
        let result = try await BuilderProcess.run(shell("(sleep 304 &); echo done")) { lines.append($0) }
        #expect(result.succeeded)
        #expect(lines.all == ["done"])
        // Far below the straggler's 304 s, with room for a loaded CI machine.
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(groupIsGone(result.processGroup))
        try await waitUntilGroupIsReaped(result.processGroup)
        #expect(!processTable().contains { $0.cmdline.hasPrefix("sleep 304") })
    }

    @Test func veryLongLinesAreSplit() async throws {
        let lines = LineCollector()
        _ = try await BuilderProcess.run(shell("head -c 40000 /dev/zero | tr '\\\\0' x; echo; echo end")) { lines.append($0) }
        #expect(lines.all.last == "end")
        #expect(lines.all.dropLast().map(\.count).reduce(0, +) == 40000)
        #expect(lines.all.allSatisfy { $0.utf8.count <= BuilderProcess.maxLineBytes })
    }
}
