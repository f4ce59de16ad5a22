// Runs a `BuilderInvocation` as a child in its own process group, streams its merged
// stdout+stderr line by line, and guarantees that when `run` returns no process of that group is
// left: cancellation or a timeout sends SIGTERM to the whole group, SIGKILL after the grace
// period, and once the main child has exited any straggler in the group is SIGKILLed and reaped.
//
// Foundation.Process cannot put a child into a new process group, so this uses posix_spawn with
// POSIX_SPAWN_SETPGROUP directly. stdout and stderr share one pipe, so lines keep the order in
// which the child wrote them. The blocking poll/read/waitpid loop runs on a dedicated thread,
// never on Swift's cooperative pool (a build can take an hour).
//
// Grandchildren orphaned when the builder exits are re-parented to init, which reaps them; a
// zombie is dead, so "no process left" means no *live* member (checked through /proc). The worker
// deliberately does not become a child subreaper: Foundation.Process in the same process stops
// noticing its own children's exits once unknown orphans start arriving.

import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a builder run ended.
public struct BuilderTermination: Sendable, Equatable {
    public enum Status: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
    }

    /// Why the worker stopped the run, if it did.
    public enum Stop: Sendable, Equatable {
        case cancelled
        case timedOut
    }

    public var status: Status
    public var stoppedBy: Stop?
    /// The process group the run had (its pid); no process of it exists any more.
    public var processGroup: Int32

    public var succeeded: Bool { status == .exited(0) && stoppedBy == nil }
}

public struct BuilderProcessError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

public enum BuilderProcess {
    /// Processes of group `pgid` that are not zombies, from /proc.
    public static func liveMembers(ofGroup pgid: Int32) -> [Int32] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var members: [Int32] = []
        for name in names {
            guard let pid = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let paren = stat.lastIndex(of: ")") else { continue }
            // After "(comm)": state ppid pgrp ...
            let fields = stat[stat.index(after: paren)...].split(separator: " ")
            guard fields.count > 2, Int32(fields[2]) == pgid, fields[0] != "Z", fields[0] != "X" else { continue }
            members.append(pid)
        }
        return members
    }

    /// Longest line handed to `onLine`; longer output is cut into pieces of this size.
    static let maxLineBytes = 16 * 1024
    /// After the main child exited, how long to keep reading output still held by stragglers.
    static let drainGrace: Duration = .seconds(2)

    /// Runs `invocation` to completion (or until cancelled / timed out) and returns how it ended.
    /// `onLine` is called on the run's own thread, in output order, without trailing newlines.
    public static func run(_ invocation: BuilderInvocation,
                           onLine: @escaping @Sendable (String) -> Void) async throws(BuilderProcessError) -> BuilderTermination {
        let control = RunControl()
        if Task.isCancelled { control.cancel() }
        let result = await withTaskCancellationHandler {
            await DedicatedThread.run(name: "slipway-builder") { () -> Result<BuilderTermination, BuilderProcessError> in
                Result { () throws(BuilderProcessError) in try Runner(invocation: invocation, control: control, onLine: onLine).run() }
            }
        } onCancel: {
            control.cancel()
        }
        return try result.get()
    }

    /// `run` on the calling thread, without cancellation (start-up checks, which block anyway).
    public static func runBlocking(_ invocation: BuilderInvocation,
                                   onLine: @escaping @Sendable (String) -> Void) throws(BuilderProcessError) -> BuilderTermination {
        try Runner(invocation: invocation, control: RunControl(), onLine: onLine).run()
    }
}

/// Cancellation flag shared between the task and the run thread.
private final class RunControl: Sendable {
    private let cancelled = Atomic<Bool>(false)
    func cancel() { cancelled.store(true, ordering: .releasing) }
    var isCancelled: Bool { cancelled.load(ordering: .acquiring) }
}

private struct Runner {
    let invocation: BuilderInvocation
    let control: RunControl
    let onLine: @Sendable (String) -> Void

    func run() throws(BuilderProcessError) -> BuilderTermination {
        let (pid, fd) = try spawn()
        defer { close(fd) }

        let clock = ContinuousClock()
        let started = clock.now
        let deadline = invocation.timeout.map { started + $0 }
        var stop: BuilderTermination.Stop?
        var termSentAt: ContinuousClock.Instant?
        var killSent = false
        var status: BuilderTermination.Status?
        var drainUntil: ContinuousClock.Instant?
        var eof = false
        // After end of output the child is normally a few hundred microseconds from being
        // reapable (it closes its descriptors before it becomes a zombie), so the wait for its
        // exit starts short and backs off: a fixed 50 ms nap here cost every build two of them
        // (bud, then push) on the way to a pullable tag.
        var exitWait: UInt32 = 250
        var pending: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { chunk.deallocate() }

        while true {
            if !eof {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&pfd, 1, 100)
                if ready > 0 {
                    let count = read(fd, chunk.baseAddress, chunk.count)
                    if count > 0 {
                        pending.append(contentsOf: chunk[0..<count])
                        emitLines(&pending, final: false)
                    } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                        eof = true
                    }
                }
            } else {
                usleep(exitWait)
                exitWait = min(exitWait * 2, 50_000)
            }

            if status == nil {
                var raw: Int32 = 0
                let reaped = waitpid(pid, &raw, WNOHANG)
                if reaped == pid {
                    status = Self.decode(raw)
                    // The builder is gone: anything left in its group is a straggler.
                    kill(-pid, SIGKILL)
                    drainUntil = clock.now + BuilderProcess.drainGrace
                }
            }
            if let status = status, eof || clock.now >= drainUntil! {
                _ = status
                break
            }

            if status == nil {
                if stop == nil {
                    if control.isCancelled {
                        stop = .cancelled
                    } else if let deadline, clock.now >= deadline {
                        stop = .timedOut
                    }
                    if stop != nil {
                        kill(-pid, SIGTERM)
                        termSentAt = clock.now
                    }
                }
                if let termSentAt, !killSent, clock.now >= termSentAt + invocation.killGrace {
                    kill(-pid, SIGKILL)
                    killSent = true
                }
            }
        }
        emitLines(&pending, final: true)
        reapGroup(pid)
        return BuilderTermination(status: status!, stoppedBy: stop, processGroup: pid)
    }

    /// SIGKILLs the group until no live member is left (bounded at 10 s). Members that are our
    /// children are reaped here; orphans are init's to reap.
    private func reapGroup(_ pgid: pid_t) {
        let clock = ContinuousClock()
        let giveUp = clock.now + .seconds(10)
        while clock.now < giveUp {
            var raw: Int32 = 0
            while waitpid(-pgid, &raw, WNOHANG) > 0 {}
            if kill(-pgid, 0) == -1 && errno == ESRCH { return }
            if BuilderProcess.liveMembers(ofGroup: pgid).isEmpty { return }
            kill(-pgid, SIGKILL)
            usleep(10_000)
        }
    }

    private func emitLines(_ pending: inout [UInt8], final: Bool) {
        var start = 0
        var index = 0
        while index < pending.count {
            if pending[index] == UInt8(ascii: "\n") {
                emit(pending[start..<index])
                start = index + 1
            } else if index - start >= BuilderProcess.maxLineBytes {
                emit(pending[start..<index])
                start = index
            }
            index += 1
        }
        if final, start < pending.count {
            emit(pending[start...])
            start = pending.count
        }
        pending.removeFirst(start)
    }

    private func emit(_ bytes: ArraySlice<UInt8>) {
        var line = String(decoding: bytes, as: UTF8.self)
        if line.hasSuffix("\r") { line.removeLast() }
        onLine(line)
    }

    private static func decode(_ raw: Int32) -> BuilderTermination.Status {
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
        let signal = raw & 0x7f
        if signal == 0 { return .exited((raw >> 8) & 0xff) }
        return .signaled(signal)
    }

    /// Resolves the executable like execvp would, against the child's PATH.
    private func resolvedExecutable() -> String? {
        let name = invocation.executable
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = invocation.environment["PATH"] ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = directory + "/" + name
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    private func spawn() throws(BuilderProcessError) -> (pid_t, Int32) {
        guard let executable = resolvedExecutable() else {
            throw BuilderProcessError(message: "cannot run \(invocation.executable): not found or not executable")
        }
        var fds: [Int32] = [-1, -1]
        guard GNUFunctions.pipe2(&fds, O_CLOEXEC) == 0 else {
            throw BuilderProcessError(message: "cannot create a pipe: \(String(cString: strerror(errno)))")
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        // Nothing else of this process reaches the builder: descriptors opened without
        // O_CLOEXEC (by a library, or a socket to the orchestrator or the database) would
        // otherwise stay open in buildah and everything it starts, outliving this process.
        guard GNUFunctions.addclosefrom(&actions, 3) == 0 else {
            close(fds[0])
            close(fds[1])
            throw BuilderProcessError(message: "cannot limit the builder's open files (posix_spawn_file_actions_addclosefrom_np)")
        }
        guard GNUFunctions.addchdir(&actions, invocation.workingDirectory) == 0 else {
            close(fds[0])
            close(fds[1])
            throw BuilderProcessError(message: "cannot set the working directory \(invocation.workingDirectory)")
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        // With a build user or limits, the child is `/bin/sh` entering the control groups and
        // then `setpriv` dropping to the user, which finally executes the builder.
        let command = invocation.commandLine(resolvedExecutable: executable)
        let program = command[0]
        let argv = command.map { strdup($0) } + [nil]
        let envp = invocation.environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, program, &actions, &attributes, argv, envp)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw BuilderProcessError(message: "cannot run \(executable): \(String(cString: strerror(rc)))")
        }
        return (pid, fds[0])
    }
}

/// glibc functions hidden behind _GNU_SOURCE, which Swift's Glibc module does not define.
private enum GNUFunctions {
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    static let pipe2Function: Pipe2? = dlsym(nil, "pipe2").map { unsafeBitCast($0, to: Pipe2.self) }
    static let addChdirFunction: AddChdir? = dlsym(nil, "posix_spawn_file_actions_addchdir_np").map { unsafeBitCast($0, to: AddChdir.self) }
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    /// glibc 2.34 and later (Debian 12 has 2.36).
    static let addCloseFromFunction: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map { unsafeBitCast($0, to: AddCloseFrom.self) }

    static func addclosefrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ lowest: Int32) -> Int32 {
        guard let addCloseFromFunction else { return ENOSYS }
        return addCloseFromFunction(actions, lowest)
    }

    static func pipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32 {
        guard let pipe2Function else { return -1 }
        return pipe2Function(fds, flags)
    }

    static func addchdir(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: String) -> Int32 {
        guard let addChdirFunction else { return ENOSYS }
        return addChdirFunction(actions, path)
    }
}
