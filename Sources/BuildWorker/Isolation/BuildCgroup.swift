// A control group per build: the builder enters it before it starts (BuilderInvocation's
// `cgroupProcs`), so the builder and every RUN step it starts share the build's CPU, memory and
// process limits, whatever user or namespaces they run in. Both cgroup layouts are handled:
//
//   v2 (unified)  <root>/slipway-builds/<name>/{cpu.max, memory.max, pids.max}
//   v1            <root>/<controller>/slipway-builds/<name>/{cpu.cfs_quota_us, memory.limit_in_bytes, pids.max}
//
// Removing the group kills whatever is still in it, so no process of a build outlives it.

import BuildProtocol
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public struct BuildCgroup: Sendable {
    /// The `cgroup.procs` files the builder writes its pid into.
    public let procsFiles: [String]
    let directories: [String]
    let unified: Bool
    let limits: BuildLimits

    static let parentName = "slipway-builds"
    static let cpuPeriodMicroseconds = 100_000

    /// Creates the group of build `name` with `limits` under `root`. Blocking.
    public static func create(name: String, limits: BuildLimits, root: String = "/sys/fs/cgroup") throws -> BuildCgroup {
        let fm = FileManager.default
        if fm.fileExists(atPath: root + "/cgroup.controllers") {
            let parent = root + "/" + parentName
            let directory = parent + "/" + name
            let available = Set(((try? String(contentsOfFile: root + "/cgroup.controllers", encoding: .utf8)) ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
            let wanted = ["cpu", "memory", "pids"].filter { available.contains($0) }
            try make(parent)
            // Controllers are handed down level by level; a level that already has them is fine.
            let enable = wanted.map { "+" + $0 }.joined(separator: " ")
            try? write(enable, to: root + "/cgroup.subtree_control")
            try? write(enable, to: parent + "/cgroup.subtree_control")
            try make(directory)
            let group = BuildCgroup(procsFiles: [directory + "/cgroup.procs"], directories: [directory], unified: true, limits: limits)
            do {
                if limits.cpuMillicores > 0 { try write("\(limits.cpuMillicores * cpuPeriodMicroseconds / 1000) \(cpuPeriodMicroseconds)", to: directory + "/cpu.max") }
                if limits.memoryBytes > 0 {
                    try write("\(limits.memoryBytes)", to: directory + "/memory.max")
                    try? write("0", to: directory + "/memory.swap.max")
                }
                if limits.pids > 0 { try write("\(limits.pids)", to: directory + "/pids.max") }
            } catch {
                group.remove()
                throw error
            }
            return group
        }
        var controllers: [(String, String)] = []   // (controller, directory)
        func controllerRoot(_ names: [String]) throws -> String {
            for name in names where fm.fileExists(atPath: root + "/" + name + "/cgroup.procs") { return root + "/" + name }
            throw BuildCgroupError("the \(names[0]) cgroup controller is not mounted under \(root)")
        }
        if limits.cpuMillicores > 0 { controllers.append(("cpu", try controllerRoot(["cpu", "cpu,cpuacct"]))) }
        if limits.memoryBytes > 0 { controllers.append(("memory", try controllerRoot(["memory"]))) }
        if limits.pids > 0 { controllers.append(("pids", try controllerRoot(["pids"]))) }
        var created: [String] = []
        do {
            for (controller, base) in controllers {
                try make(base + "/" + parentName)
                let directory = base + "/" + parentName + "/" + name
                try make(directory)
                created.append(directory)
                switch controller {
                case "cpu":
                    try write("\(cpuPeriodMicroseconds)", to: directory + "/cpu.cfs_period_us")
                    try write("\(limits.cpuMillicores * cpuPeriodMicroseconds / 1000)", to: directory + "/cpu.cfs_quota_us")
                case "memory":
                    try write("\(limits.memoryBytes)", to: directory + "/memory.limit_in_bytes")
                    // Without swap accounting this file is absent; the limit then counts RAM only.
                    try? write("\(limits.memoryBytes)", to: directory + "/memory.memsw.limit_in_bytes")
                default:
                    try write("\(limits.pids)", to: directory + "/pids.max")
                }
            }
        } catch {
            BuildCgroup(procsFiles: [], directories: created, unified: false, limits: limits).remove()
            throw error
        }
        return BuildCgroup(procsFiles: created.map { $0 + "/cgroup.procs" }, directories: created, unified: false, limits: limits)
    }

    /// Why the build's processes were stopped by a limit, for the build's error message; nil
    /// when no limit was hit.
    public func exceededLimit() -> String? {
        for directory in directories {
            let events = unified ? directory + "/memory.events" : directory + "/memory.oom_control"
            if limits.memoryBytes > 0, Self.counter("oom_kill", in: events) > 0 {
                return "the build ran out of memory: it is limited to \(limits.memoryBytes >> 20) MiB (builds.limits.memoryBytes or its namespace's limit)"
            }
            if limits.pids > 0, Self.counter("max", in: directory + "/pids.events") > 0 {
                return "the build reached its limit of \(limits.pids) processes (builds.limits.pids or its namespace's limit)"
            }
        }
        return nil
    }

    /// Kills every process still in the group and removes it. Blocking; never throws.
    public func remove() {
        for directory in directories {
            let giveUp = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < giveUp {
                let members = ((try? String(contentsOfFile: directory + "/cgroup.procs", encoding: .utf8)) ?? "")
                    .split(whereSeparator: \.isNewline).compactMap { Int32($0) }
                if members.isEmpty {
                    // EBUSY: a member is still exiting; anything else will not get better.
                    if rmdir(directory) == 0 || errno != EBUSY { break }
                }
                for pid in members { kill(pid, SIGKILL) }
                usleep(20_000)
            }
        }
    }

    static func counter(_ name: String, in file: String) -> Int {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return 0 }
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: " ")
            if fields.count == 2, fields[0] == name { return Int(fields[1]) ?? 0 }
        }
        return 0
    }

    private static func make(_ path: String) throws {
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw BuildCgroupError("cannot create the control group \(path): \(String(cString: strerror(errno)))")
        }
    }

    private static func write(_ value: String, to file: String) throws {
        // O_CREAT only matters for plain directories standing in for cgroupfs (tests); cgroupfs
        // files exist, and one that does not cannot be created there.
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BuildCgroupError("cannot open \(file): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        guard Glibc.write(fd, bytes, bytes.count) == bytes.count else {
            throw BuildCgroupError("cannot write '\(value)' to \(file): \(String(cString: strerror(errno)))")
        }
    }
}

public struct BuildCgroupError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
