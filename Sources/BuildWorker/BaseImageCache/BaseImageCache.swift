// The per-namespace base-image cache of a build worker (issue #20).
//
// Each namespace gets one persistent containers-storage (graphroot + runroot) on this worker,
// used directly by that namespace's builds. Builds still run `buildah bud --pull-always` with
// their own auth.json, so every use asks the registry for the base image's manifest with the
// build's own credentials: a revoked robot, a deleted repository or a base that turned private
// fails the build with the registry's answer, exactly as a fresh pull would. Only the layers the
// registry named are then taken from the storage instead of being downloaded and unpacked again.
//
//     <directory>/<driver>/
//       ns-<namespace>.lock     flock: shared while a build uses the namespace, exclusive to drop it
//       ns-<namespace>/         storage/ run/ last-used [broken]
//
// Namespace X's storage is only ever handed to builds of namespace X, so no layer pulled with X's
// credentials can reach a build of Y. The cache is bounded (least recently used namespaces are
// dropped when the total exceeds `maxBytes`), and never fails a build: a storage that looks
// damaged, or that made a build fail before its first step, is dropped and rebuilt, and a build
// that cannot use its namespace's storage runs in a fresh one as before.

import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public final class BaseImageCache: Sendable {
    /// 10 GiB: a few hundred base images of common sizes.
    public static let defaultMaxBytes: Int64 = 10 << 30

    /// `<directory>/<driver>`: storages of another driver are never opened with this one.
    public let root: URL
    public let maxBytes: Int64
    /// containers-storage driver of every namespace storage: overlay where the kernel lets this
    /// process mount it, else vfs.
    public let driver: String
    let logger: Logger
    /// The build user of rootless builds, who must own the storages its builders open.
    let owner: BuildUser?

    /// Creates the cache under `directory` and picks the storage driver (`driver` nil: probe).
    /// With an `owner` (rootless builds) the storages are that user's; without a `driver` they
    /// use vfs then (this process's overlay probe says nothing of what the user may mount: the
    /// caller probes as the user, see RootlessSetup).
    public init(directory: URL, maxBytes: Int64 = BaseImageCache.defaultMaxBytes, driver: String? = nil, owner: BuildUser? = nil,
                logger: Logger) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        _ = chmod(directory.path, 0o700)
        try owner?.take(directory.path)
        self.owner = owner
        let chosen: String
        if let driver {
            chosen = driver
        } else if owner != nil {
            chosen = "vfs"
        } else if let failure = OverlayProbe.failure(in: directory) {
            chosen = "vfs"
            logger.notice("base-image cache: overlay storage is not available here (\(failure)); using vfs",
                          metadata: ["directory": "\(directory.path)"])
        } else {
            chosen = "overlay"
        }
        self.driver = chosen
        self.root = directory.appendingPathComponent(chosen)
        self.maxBytes = max(0, maxBytes)
        self.logger = logger
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try owner?.take(root.path)
        logger.info("base-image cache ready", metadata: ["directory": "\(root.path)", "driver": "\(chosen)", "max_bytes": "\(self.maxBytes)"])
    }

    /// The directory name of `namespace`'s storage: readable for plain names, hex otherwise, and
    /// never the same for two namespaces.
    static func directoryName(for namespace: String) -> String {
        let plain = Set("abcdefghijklmnopqrstuvwxyz0123456789_-")
        if !namespace.isEmpty, namespace.count <= 200, namespace.allSatisfy({ plain.contains($0) }) {
            return "ns-" + namespace
        }
        return "hex-" + namespace.utf8.prefix(120).map { String(format: "%02x", $0) }.joined()
    }

    /// The storage of `namespace`, locked shared until the lease is released; nil when the build
    /// has to run without the cache (the reason is logged). Blocks (flock): not for the
    /// cooperative pool, see `lease(namespace:)`.
    func acquire(namespace: String) -> BaseImageCacheLease? {
        let name = Self.directoryName(for: namespace)
        let directory = root.appendingPathComponent(name)
        let fd = open(root.appendingPathComponent(name + ".lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            logger.warning("base-image cache: cannot open the lock file; building without the cache",
                           metadata: ["namespace": "\(namespace)", "error": "\(String(cString: strerror(errno)))"])
            return nil
        }
        if let damage = CacheStorageCheck.damage(in: directory, driver: driver) {
            // Dropping needs the storage to itself; a namespace busy with other builds keeps its
            // storage until the next build finds it idle, and this build runs without it.
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                close(fd)
                logger.warning("base-image cache: the namespace's storage is damaged and in use; building without the cache",
                               metadata: ["namespace": "\(namespace)", "damage": "\(damage)"])
                return nil
            }
            logger.warning("base-image cache: dropping the namespace's storage to rebuild it",
                           metadata: ["namespace": "\(namespace)", "damage": "\(damage)"])
            CacheDirectory.remove(directory)
        }
        // Shared (an exclusive lock taken above is converted): evictors wait for no build.
        guard flock(fd, LOCK_SH) == 0 else {
            close(fd)
            return nil
        }
        do {
            for sub in ["storage", "run"] {
                try FileManager.default.createDirectory(at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
            }
            try Data().write(to: directory.appendingPathComponent("last-used"))
            if let owner {
                for path in [directory.path, directory.appendingPathComponent("storage").path, directory.appendingPathComponent("run").path] {
                    try owner.take(path)
                }
            }
        } catch {
            close(fd)
            logger.warning("base-image cache: cannot prepare the namespace's storage; building without the cache",
                           metadata: ["namespace": "\(namespace)", "error": "\(error)"])
            return nil
        }
        return BaseImageCacheLease(namespace: namespace, directory: directory, driver: driver, lockDescriptor: fd)
    }

    /// `acquire(namespace:)` on a thread of its own.
    public func lease(namespace: String) async -> BaseImageCacheLease? {
        await DedicatedThread.run(name: "slipway-cache-lock") { self.acquire(namespace: namespace) }
    }

    /// Drops least recently used namespace storages until the cache fits `maxBytes`. Storages in
    /// use are skipped (their builds hold the lock shared). Blocking.
    func evictIfNeeded() {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: root.path) else { return }
        var entries: [(name: String, bytes: Int64, used: Double)] = []
        for name in names where !name.hasSuffix(".lock") {
            let path = root.appendingPathComponent(name).path
            let used = ((try? fm.attributesOfItem(atPath: path + "/last-used"))?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            entries.append((name, CacheDirectory.diskUsage(path), used))
        }
        var total = entries.reduce(Int64(0)) { $0 + $1.bytes }
        guard total > maxBytes else { return }
        for entry in entries.sorted(by: { $0.used < $1.used }) where total > maxBytes {
            let fd = open(root.appendingPathComponent(entry.name + ".lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { continue }
            CacheDirectory.remove(root.appendingPathComponent(entry.name))
            total -= entry.bytes
            logger.info("base-image cache: evicted the least recently used namespace storage",
                        metadata: ["storage": "\(entry.name)", "bytes": "\(entry.bytes)", "cache_bytes": "\(total)", "max_bytes": "\(maxBytes)"])
        }
    }

    /// Releases `lease` and trims the cache to its bound, on a thread of its own. `drop`: the
    /// build's builder was killed (cancelled, timed out), which can leave its container and an
    /// overlay mount in the storage: drop the storage now if no other build uses it, else at the
    /// next build that finds it idle.
    public func finish(_ lease: BaseImageCacheLease, drop: Bool = false) async {
        await DedicatedThread.run(name: "slipway-cache-evict") {
            if drop { lease.markBroken() }
            lease.release()
            if drop { self.dropIfIdle(lease) }
            self.evictIfNeeded()
        }
    }

    /// Drops the lease's storage when no build holds it. Blocking.
    func dropIfIdle(_ lease: BaseImageCacheLease) {
        let fd = open(root.appendingPathComponent(lease.directory.lastPathComponent + ".lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return }
        CacheDirectory.remove(lease.directory)
        logger.info("base-image cache: dropped the namespace's storage after a stopped build", metadata: ["namespace": "\(lease.namespace)"])
    }
}

extension BaseImageCache {
    /// The cache a worker runs with: nil when `maxBytes` is 0 (disabled) or the directory cannot
    /// be created (logged; builds then pull into fresh storages as without a cache).
    public static func optional(directory: URL, maxBytes: Int64, driver: String? = nil, owner: BuildUser? = nil,
                                logger: Logger) -> BaseImageCache? {
        guard maxBytes > 0 else {
            logger.info("base-image cache disabled (its size bound is 0)")
            return nil
        }
        do {
            return try BaseImageCache(directory: directory, maxBytes: maxBytes, driver: driver, owner: owner, logger: logger)
        } catch {
            logger.warning("base-image cache unavailable; every build pulls its base image anew",
                           metadata: ["directory": "\(directory.path)", "error": "\(error)"])
            return nil
        }
    }
}
