// A builder run (`buildah bud`, `podman build`, `buildah push`, ...) described as a value: what to
// execute, with which arguments and environment, where, and how long it may take. Nothing here
// starts a process; `BuilderProcess.run` does.

import Foundation

/// Which tool builds the image.
public enum BuilderTool: String, Sendable, Equatable, CaseIterable {
    /// `buildah bud` (the default).
    case buildah
    /// `podman build`.
    case podman
}

/// How RUN steps are isolated. `chroot` works without user namespaces or a working OCI runtime
/// setup; `oci` uses the configured runtime (runc).
public enum BuilderIsolation: String, Sendable, Equatable, CaseIterable {
    /// The builder runs as an unprivileged build user (`BuildUser`); each RUN step gets user,
    /// mount and PID namespaces of its own (runc, rootless).
    case rootless
    /// buildah's chroot isolation as the worker's own user: a RUN step shares the worker's
    /// process table (and, as root, could read its files through /proc). No security boundary.
    case chroot
    case oci
}

/// One child process to run, as a `Sendable` description.
public struct BuilderInvocation: Sendable, Equatable {
    /// Absolute path, or a name looked up in `PATH` of `environment` (then of the worker).
    public var executable: String
    public var arguments: [String]
    /// The complete environment of the child (nothing is inherited implicitly).
    public var environment: [String: String]
    public var workingDirectory: String
    /// Killed (whole process group) when exceeded; nil = no limit.
    public var timeout: Duration?
    /// Time between SIGTERM and SIGKILL when the run is cancelled or times out.
    public var killGrace: Duration
    /// Run with this user's ids instead of the worker's (rootless builds); nil: as the worker.
    public var user: BuildUser?
    /// `cgroup.procs` files the child enters before it executes the builder (the build's
    /// resource limits); the child writes its own pid, so nothing it starts escapes them.
    public var cgroupProcs: [String]

    public init(executable: String, arguments: [String], environment: [String: String], workingDirectory: String,
                timeout: Duration? = nil, killGrace: Duration = .seconds(5), user: BuildUser? = nil, cgroupProcs: [String] = []) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.timeout = timeout
        self.killGrace = killGrace
        self.user = user
        self.cgroupProcs = cgroupProcs
    }

    /// The script of the `/bin/sh` that starts a builder with a user or limits: it writes its
    /// pid into each `cgroup.procs` given before `--`, then executes the rest.
    static let enterScript = #"for f do if [ "$f" = -- ]; then shift; break; fi; echo $$ > "$f" || { echo "cannot enter the build's control group ($f)" >&2; exit 125; }; shift; done; exec "$@""#

    /// The program and arguments actually executed for `resolvedExecutable`: itself, or the
    /// entering shell with `setpriv` when a user or limits are set.
    func commandLine(resolvedExecutable: String, setpriv: String = "/usr/bin/setpriv") -> [String] {
        guard user != nil || !cgroupProcs.isEmpty else { return [resolvedExecutable] + arguments }
        var prefix = user.map { [setpriv] + Array($0.setprivPrefix.dropFirst()) } ?? []
        if cgroupProcs.isEmpty { return prefix + [resolvedExecutable] + arguments }
        prefix = ["/bin/sh", "-c", Self.enterScript, "sh"] + cgroupProcs + ["--"] + prefix
        return prefix + [resolvedExecutable] + arguments
    }

    /// The command line as it may be logged: the password of every `--creds user:pass` (or
    /// `--creds=user:pass`) is replaced by `***`.
    public var redactedCommandLine: String {
        ([executable] + Self.redact(arguments)).map(Self.shellQuoted).joined(separator: " ")
    }

    static func redact(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var redactNext = false
        for argument in arguments {
            if redactNext {
                out.append(Self.redactCreds(argument))
                redactNext = false
            } else if argument == "--creds" || argument == "--password" || argument == "-p" {
                out.append(argument)
                redactNext = true
            } else if argument.hasPrefix("--creds=") {
                out.append("--creds=" + Self.redactCreds(String(argument.dropFirst("--creds=".count))))
            } else if argument.hasPrefix("--password=") {
                out.append("--password=***")
            } else {
                out.append(argument)
            }
        }
        return out
    }

    private static func redactCreds(_ value: String) -> String {
        guard let colon = value.firstIndex(of: ":") else { return "***" }
        return value[..<colon] + ":***"
    }

    private static func shellQuoted(_ word: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,")
        if !word.isEmpty, word.allSatisfy({ safe.contains($0) }) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

extension BuilderInvocation {
    /// `buildah bud` / `podman build` of `contextDirectory` with `dockerfile`, tagging the result
    /// with every reference in `tags` (full references, `registry/repo:tag`).
    public static func build(tool: BuilderTool = .buildah,
                             executable: String? = nil,
                             isolation: BuilderIsolation = .chroot,
                             contextDirectory: String,
                             dockerfile: String,
                             tags: [String],
                             pullAlways: Bool = true,
                             tlsVerify: Bool,
                             pullCredentials: (username: String, password: String)? = nil,
                             buildArgs: [String: String] = [:],
                             secretFiles: [String: String] = [:],
                             layerCache: String? = nil,
                             platform: String? = nil,
                             environment: ContainerEnvironment,
                             timeout: Duration? = nil,
                             killGrace: Duration = .seconds(5),
                             cgroupProcs: [String] = []) -> BuilderInvocation {
        var arguments: [String]
        switch tool {
        case .buildah: arguments = ["bud"]
        case .podman: arguments = ["build"]
        }
        arguments += ["--isolation", isolation.rawValue, "-f", dockerfile]
        for tag in tags {
            arguments += ["-t", tag]
        }
        if pullAlways {
            arguments.append("--pull-always")
        }
        arguments.append("--tls-verify=\(tlsVerify)")
        if let pullCredentials {
            arguments += ["--creds", "\(pullCredentials.username):\(pullCredentials.password)"]
        }
        // One platform of a multi-architecture build: the base is pulled for it and RUN steps
        // run its binaries (under qemu-user emulation when it is not the worker's own).
        if let platform {
            arguments += ["--platform", platform]
        }
        // Sorted, so the same build gives the same command line.
        for (name, value) in buildArgs.sorted(by: { $0.key < $1.key }) {
            arguments += ["--build-arg", "\(name)=\(value)"]
        }
        // Secrets by file (id → path of a 0600 file outside the context): the value itself is
        // never on the command line, where /proc would show it.
        for (id, file) in secretFiles.sorted(by: { $0.key < $1.key }) {
            arguments += ["--secret", "id=\(id),src=\(file)"]
        }
        // Intermediate layers are looked up in, and pushed to, the cache repository (a full
        // reference without tag: buildah names each entry by its cache key).
        if let layerCache {
            arguments += ["--layers", "--cache-from", layerCache, "--cache-to", layerCache]
        }
        arguments.append(contextDirectory)
        return BuilderInvocation(executable: executable ?? tool.rawValue, arguments: arguments,
                                 environment: environment.variables, workingDirectory: contextDirectory,
                                 timeout: timeout, killGrace: killGrace, user: environment.owner, cgroupProcs: cgroupProcs)
    }

    /// `buildah push --digestfile <file> ... <image> docker://<destination>`.
    public static func push(executable: String = "buildah",
                            image: String,
                            destination: String,
                            digestFile: String,
                            tlsVerify: Bool,
                            credentials: (username: String, password: String)?,
                            environment: ContainerEnvironment,
                            timeout: Duration? = .seconds(600)) -> BuilderInvocation {
        var arguments = ["push", "--digestfile", digestFile, "--tls-verify=\(tlsVerify)"]
        if let credentials {
            arguments += ["--creds", "\(credentials.username):\(credentials.password)"]
        }
        arguments += [image, "docker://" + destination]
        return BuilderInvocation(executable: executable, arguments: arguments, environment: environment.variables,
                                 workingDirectory: environment.root.path, timeout: timeout, user: environment.owner)
    }
}
