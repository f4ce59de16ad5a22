// A private podman/buildah environment for one build, the Swift twin of Tests/Fixtures/ctenv.sh:
//
//     <root>/
//       home/                HOME (skopeo 1.9 reads home/.config/containers/registries.conf)
//       xdg/                 XDG_RUNTIME_DIR (0700)
//       tmp/                 TMPDIR
//       storage/  run/       graphroot / runroot (vfs driver: no mounts, so `rm -rf` always works)
//       networks/            network_config_dir
//       storage.conf registries.conf containers.conf auth.json
//
// Nothing global is read or written, so builds on one worker cannot see each other's images,
// credentials or layer cache, and deleting `root` removes every trace of a build. The one
// exception is `sharedStorage`: a namespace's storage in the worker's base-image cache
// (BaseImageCache), used in place of storage/ and run/ by that namespace's builds only.

import BuildProtocol
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public struct ContainerEnvironment: Sendable, Equatable {
    public let root: URL
    /// The variables a builder child runs with (complete; nothing else is inherited).
    public let variables: [String: String]
    /// The build user every builder of this environment runs as (rootless builds), who owns
    /// its files; nil: the worker's own user.
    public let owner: BuildUser?

    /// Registries the builder talks to over plain HTTP / without TLS verification.
    public static let defaultInsecureRegistries = ["127.0.0.1", "localhost"]

    /// Creates the layout under `root` (created if missing).
    public init(root: URL, insecureRegistries: [String] = ContainerEnvironment.defaultInsecureRegistries,
                storageDriver: String = "vfs", sharedStorage: ContainerStorageLocation? = nil, owner: BuildUser? = nil) throws {
        let fm = FileManager.default
        let path = root.path
        for sub in ["home/.config/containers", "xdg", "storage", "run", "tmp", "networks"] {
            try fm.createDirectory(atPath: path + "/" + sub, withIntermediateDirectories: true)
        }
        _ = chmod(path + "/xdg", 0o700)
        let storage = """
            [storage]
            driver = "\(sharedStorage?.driver ?? storageDriver)"
            graphroot = "\(sharedStorage?.graphroot ?? path + "/storage")"
            runroot = "\(sharedStorage?.runroot ?? path + "/run")"
            rootless_storage_path = "\(sharedStorage?.graphroot ?? path + "/storage")"

            """
        var registries = """
            unqualified-search-registries = []
            short-name-mode = "disabled"

            """
        for location in insecureRegistries {
            registries += """
                [[registry]]
                location = "\(location)"
                insecure = true

                """
        }
        let containers = """
            [containers]
            default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
            netns = "host"
            [engine]
            runtime = "runc"
            events_logger = "file"
            events_logfile_path = "\(path)/run/events.log"
            cgroup_manager = "cgroupfs"
            [network]
            network_config_dir = "\(path)/networks"

            """
        try storage.write(toFile: path + "/storage.conf", atomically: true, encoding: .utf8)
        try registries.write(toFile: path + "/registries.conf", atomically: true, encoding: .utf8)
        try registries.write(toFile: path + "/home/.config/containers/registries.conf", atomically: true, encoding: .utf8)
        try containers.write(toFile: path + "/containers.conf", atomically: true, encoding: .utf8)
        if !fm.fileExists(atPath: path + "/auth.json") {
            try #"{"auths":{}}"#.write(toFile: path + "/auth.json", atomically: true, encoding: .utf8)
        }
        _ = chmod(path + "/auth.json", 0o600)
        try owner?.take(path, recursive: true)

        let inherited = ProcessInfo.processInfo.environment
        self.root = root
        self.owner = owner
        self.variables = [
            "PATH": inherited["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "HOME": path + "/home",
            "XDG_RUNTIME_DIR": path + "/xdg",
            "TMPDIR": path + "/tmp",
            "CONTAINERS_STORAGE_CONF": path + "/storage.conf",
            "CONTAINERS_REGISTRIES_CONF": path + "/registries.conf",
            "CONTAINERS_CONF": path + "/containers.conf",
            "REGISTRY_AUTH_FILE": path + "/auth.json",
        ]
    }

    /// Writes `auth.json` (containers-auth.json(5)): keys are `host[:port]` or
    /// `host[:port]/namespace/repo`; the most specific key matching an image wins.
    public func writeCredentials(_ auths: [String: RegistryCredentials]) throws {
        var entries: [String: [String: String]] = [:]
        for (key, c) in auths {
            entries[key] = ["auth": Data("\(c.username):\(c.password)".utf8).base64EncodedString()]
        }
        let data = try JSONSerialization.data(withJSONObject: ["auths": entries], options: [.sortedKeys])
        let path = root.path + "/auth.json"
        // Created 0600 before any secret is written into it.
        guard FileManager.default.createFile(atPath: path + ".new", contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown)
        }
        try data.write(to: URL(fileURLWithPath: path + ".new"))
        try owner?.take(path + ".new")
        guard rename(path + ".new", path) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    /// Deletes the whole environment (images, layers, containers, credentials).
    public func remove() {
        try? FileManager.default.removeItem(at: root)
    }
}
