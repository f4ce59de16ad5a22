// What a worker checks (and, running as root, sets up) before it runs rootless builds:
//
//   - the build user exists (created as a system account with its home when missing);
//   - it has subordinate uid and gid ranges in /etc/subuid and /etc/subgid (65536 ids added with
//     `usermod --add-subuids/--add-subgids` when missing);
//   - newuidmap/newgidmap (Debian's `uidmap`), runc and setpriv are installed;
//   - and, as the proof, `buildah unshare` as that user maps the range into a user namespace.
//
// A worker that is not root runs its builders as itself; it then needs a range of its own.
// Every failure says what to install or change; the worker does not start half-isolated.

import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public struct RootlessSetupError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

public enum RootlessSetup {
    /// Ids granted to a build user that has none.
    static let rangeSize: Int64 = 65_536

    /// What rootless builds run with on this machine.
    public struct Readiness: Sendable {
        /// The user builders run as; nil when the worker is not root and runs them as itself.
        public let user: BuildUser?
        /// `overlay` when the build user can mount it in its namespace (kernel 5.13 and later),
        /// else `vfs`: the driver of the base-image cache's storages.
        public let storageDriver: String
    }

    /// Checks (and as root prepares) rootless builds for `userName`. Blocking.
    public static func prepare(userName: String, builder: String, logger: Logger) throws -> Readiness {
        for (tool, package) in [("newuidmap", "uidmap"), ("newgidmap", "uidmap"), ("runc", "runc"), ("setpriv", "util-linux")]
        where which(tool) == nil {
            throw RootlessSetupError("rootless builds need \(tool): install the Debian package '\(package)', or start the worker with --isolation chroot")
        }
        guard geteuid() == 0 else {
            let name = String(cString: getpwuid(geteuid()).pointee.pw_name)
            for file in ["/etc/subuid", "/etc/subgid"] {
                let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
                guard SubordinateIDs.range(of: [name, "\(geteuid())"], in: text) != nil else {
                    throw RootlessSetupError("rootless builds as \(name) need a subordinate id range in \(file): as root run `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 \(name)`")
                }
            }
            try probe(user: nil, builder: builder, area: NSTemporaryDirectory())
            let driver = overlayWorks(user: nil, builder: builder, area: NSTemporaryDirectory()) ? "overlay" : "vfs"
            logger.info("rootless builds run as this worker's own user", metadata: ["user": "\(name)", "storage_driver": "\(driver)"])
            return Readiness(user: nil, storageDriver: driver)
        }
        var user = BuildUser.lookup(userName)
        if user == nil {
            do {
                try run("/usr/sbin/useradd", ["--system", "--user-group", "--home-dir", "/var/lib/\(userName)", "--create-home",
                                              "--shell", "/usr/sbin/nologin", "--comment", "Slipway rootless builds", userName])
                logger.notice("created the build user for rootless builds", metadata: ["user": "\(userName)"])
            } catch {
                // Another worker starting at the same moment may have created it first.
                guard BuildUser.lookup(userName) != nil else { throw error }
            }
            user = BuildUser.lookup(userName)
        }
        guard let user else { throw RootlessSetupError("the build user \(userName) could not be created") }
        guard user.uid != 0 else { throw RootlessSetupError("the build user \(userName) is root; name an unprivileged account") }
        try prepareHome(of: user)
        for (file, option) in [("/etc/subuid", "--add-subuids"), ("/etc/subgid", "--add-subgids")] {
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            guard SubordinateIDs.range(of: [user.name, "\(user.uid)"], in: text) == nil else { continue }
            let start = SubordinateIDs.freeStart(count: rangeSize, in: text)
            try run("/usr/sbin/usermod", [option, "\(start)-\(start + rangeSize - 1)", user.name])
            logger.notice("gave the build user a subordinate id range", metadata: ["user": "\(user.name)", "file": "\(file)", "start": "\(start)", "count": "\(rangeSize)"])
        }
        try probe(user: user, builder: builder, area: user.home)
        let driver = overlayWorks(user: user, builder: builder, area: user.home) ? "overlay" : "vfs"
        logger.info("rootless builds ready", metadata: ["user": "\(user.name)", "uid": "\(user.uid)", "home": "\(user.home)",
                                                        "storage_driver": "\(driver)"])
        return Readiness(user: user, storageDriver: driver)
    }

    /// Whether an overlay storage opens for the user (in its own mount namespace; nothing is
    /// mounted on the host, so removing a storage never meets a busy mount).
    static func overlayWorks(user: BuildUser?, builder: String, area: String) -> Bool {
        let directory = URL(fileURLWithPath: area).appendingPathComponent("overlay-probe-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        guard (try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)) != nil,
              let environment = try? ContainerEnvironment(root: directory, storageDriver: "overlay", owner: user) else { return false }
        let invocation = BuilderInvocation(executable: builder, arguments: ["images", "--quiet"], environment: environment.variables,
                                           workingDirectory: directory.path, timeout: .seconds(60), user: user)
        return (try? BuilderProcess.runBlocking(invocation) { _ in })?.succeeded == true
    }

    /// The user's home is where its work directories go: it must exist and be the user's.
    static func prepareHome(of user: BuildUser) throws {
        var info = stat()
        if stat(user.home, &info) != 0 {
            guard mkdir(user.home, 0o700) == 0 else {
                throw RootlessSetupError("cannot create the build user's home \(user.home): \(String(cString: strerror(errno)))")
            }
            try user.take(user.home)
            return
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR, info.st_uid == user.uid else {
            throw RootlessSetupError("the build user's home \(user.home) must be a directory owned by \(user.name)")
        }
    }

    /// A directory under which `user` can reach what the worker puts: `requested` when every
    /// ancestor lets the user through, else a directory of the user's home named after it.
    public static func reachableDirectory(_ requested: URL, for user: BuildUser?) -> URL {
        guard let user, !traversable(requested.path, by: user) else { return requested }
        let tag = requested.path.utf8.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
        return URL(fileURLWithPath: user.home).appendingPathComponent("\(requested.lastPathComponent)-\(String(tag, radix: 16).prefix(8))")
    }

    /// Whether `user` may search every directory from `/` to `path` (existing ones).
    static func traversable(_ path: String, by user: BuildUser) -> Bool {
        var current = ""
        for component in ["/"] + path.split(separator: "/").map(String.init) {
            current = current == "" ? "/" : (current == "/" ? "/" + component : current + "/" + component)
            var info = stat()
            guard stat(current, &info) == 0 else { return true }
            let mode = info.st_mode
            let allowed = info.st_uid == user.uid ? mode & S_IXUSR != 0 : info.st_gid == user.gid ? mode & S_IXGRP != 0 : mode & S_IXOTH != 0
            if !allowed { return false }
        }
        return true
    }

    /// `buildah unshare` as the user: proves the kernel lets it map its range.
    static func probe(user: BuildUser?, builder: String, area: String) throws {
        let directory = URL(fileURLWithPath: area).appendingPathComponent("rootless-probe-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let environment: ContainerEnvironment
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            environment = try ContainerEnvironment(root: directory, owner: user)
        } catch {
            throw RootlessSetupError("cannot prepare the rootless probe in \(directory.path): \(error)")
        }
        let invocation = BuilderInvocation(executable: builder, arguments: ["unshare", "cat", "/proc/self/uid_map"],
                                           environment: environment.variables, workingDirectory: directory.path,
                                           timeout: .seconds(60), user: user)
        let output = LinesCollector()
        let termination: BuilderTermination
        do {
            termination = try BuilderProcess.runBlocking(invocation) { output.append($0) }
        } catch {
            throw RootlessSetupError("cannot run \(builder) as the build user: \(error)")
        }
        let mapped = output.lines.contains { line in
            let fields = line.split(whereSeparator: \.isWhitespace)
            return fields.count == 3 && fields[0] == "1" && fields[2] != "1"
        }
        guard termination.succeeded, mapped else {
            throw RootlessSetupError("\(builder) could not map the build user's subordinate ids into a user namespace (\(output.lines.suffix(3).joined(separator: " / "))); check /etc/subuid, /etc/subgid, that newuidmap is setuid root, and that unprivileged user namespaces are allowed (kernel.unprivileged_userns_clone, user.max_user_namespaces); or start the worker with --isolation chroot")
        }
    }

    static func which(_ tool: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for directory in (path + ":/usr/sbin:/sbin").split(separator: ":") where access("\(directory)/\(tool)", X_OK) == 0 {
            return "\(directory)/\(tool)"
        }
        return nil
    }

    private static func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw RootlessSetupError("cannot run \(executable): \(error)")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw RootlessSetupError("\(executable) \(arguments.joined(separator: " ")) failed: \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}

/// Lines of a probe's output, collected from the run thread.
private final class LinesCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ line: String) { lock.withLock { stored.append(line) } }
    var lines: [String] { lock.withLock { stored } }
}
