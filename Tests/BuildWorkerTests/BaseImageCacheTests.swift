// The bookkeeping of the per-namespace base-image cache without a builder: directory names,
// damage detection, dropping, LRU eviction and its respect for storages in use. The real
// builds through the cache (namespace isolation, revoked robots, a corrupted storage, concurrent
// builds) are in Tests/e2e/test_base_image_cache.py.

@testable import BuildWorker
import Foundation
import Logging
import Testing

@Suite struct BaseImageCacheTests {
    private func cache(_ scratch: Scratch, maxBytes: Int64 = 1 << 30) throws -> BaseImageCache {
        try BaseImageCache(directory: scratch.sub("cache"), maxBytes: maxBytes, driver: "vfs", logger: Logger(label: "test"))
    }

    private func fill(_ lease: BaseImageCacheLease, bytes: Int) throws {
        try Data(repeating: 7, count: bytes).write(to: URL(fileURLWithPath: lease.storage.graphroot).appendingPathComponent("blob"))
    }

    @Test func namespacesGetDistinctDirectories() {
        #expect(BaseImageCache.directoryName(for: "alice") == "ns-alice")
        #expect(BaseImageCache.directoryName(for: "my_org-2") == "ns-my_org-2")
        // Names outside the plain alphabet are hex-encoded and cannot collide with plain ones.
        #expect(BaseImageCache.directoryName(for: "../x") == "hex-2e2e2f78")
        #expect(BaseImageCache.directoryName(for: "Alice") != BaseImageCache.directoryName(for: "alice"))
        #expect(BaseImageCache.directoryName(for: "") == "hex-")
    }

    @Test func eachNamespaceLeasesItsOwnStorage() throws {
        let scratch = try Scratch("cache")
        let cache = try cache(scratch)
        let x = try #require(cache.acquire(namespace: "x"))
        let y = try #require(cache.acquire(namespace: "y"))
        #expect(x.storage.graphroot != y.storage.graphroot)
        #expect(x.storage.driver == "vfs")
        #expect(FileManager.default.fileExists(atPath: x.storage.graphroot))
        // Two builds of one namespace share it.
        let x2 = try #require(cache.acquire(namespace: "x"))
        #expect(x2.storage == x.storage)
        x.release(); x2.release(); y.release()
    }

    @Test func unreadableIndexOrBrokenMarkerDropsTheStorage() throws {
        let scratch = try Scratch("cache")
        let cache = try cache(scratch)
        let lease = try #require(cache.acquire(namespace: "x"))
        try fill(lease, bytes: 10)
        let images = URL(fileURLWithPath: lease.storage.graphroot).appendingPathComponent("vfs-images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try Data("[]".utf8).write(to: images.appendingPathComponent("images.json"))
        lease.release()
        #expect(CacheStorageCheck.damage(in: lease.directory, driver: "vfs") == nil)

        try Data("{not json".utf8).write(to: images.appendingPathComponent("images.json"))
        #expect(CacheStorageCheck.damage(in: lease.directory, driver: "vfs") != nil)
        let again = try #require(cache.acquire(namespace: "x"))
        #expect(!FileManager.default.fileExists(atPath: again.storage.graphroot + "/blob"), "dropped and rebuilt")
        #expect(CacheStorageCheck.damage(in: again.directory, driver: "vfs") == nil)

        try fill(again, bytes: 10)
        again.markBroken()
        again.release()
        let third = try #require(cache.acquire(namespace: "x"))
        #expect(!FileManager.default.fileExists(atPath: third.storage.graphroot + "/blob"))
        third.release()
    }

    @Test func damagedStorageInUseIsLeftAloneAndTheBuildRunsWithoutIt() throws {
        let scratch = try Scratch("cache")
        let cache = try cache(scratch)
        let running = try #require(cache.acquire(namespace: "x"))
        try fill(running, bytes: 10)
        running.markBroken()
        #expect(cache.acquire(namespace: "x") == nil)
        #expect(FileManager.default.fileExists(atPath: running.storage.graphroot + "/blob"), "a running build keeps its storage")
        running.release()
        let next = try #require(cache.acquire(namespace: "x"))
        #expect(!FileManager.default.fileExists(atPath: next.storage.graphroot + "/blob"))
        next.release()
    }

    @Test func evictionDropsLeastRecentlyUsedIdleNamespacesFirst() throws {
        let scratch = try Scratch("cache")
        let cache = try cache(scratch, maxBytes: 3 << 20)
        var leases: [String: BaseImageCacheLease] = [:]
        for (index, name) in ["old", "busy", "mid", "new"].enumerated() {
            let lease = try #require(cache.acquire(namespace: name))
            try fill(lease, bytes: 1 << 20)
            // Explicit use times: the order must not depend on the clock's resolution.
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000 + Double(index))],
                                                  ofItemAtPath: lease.directory.appendingPathComponent("last-used").path)
            leases[name] = lease
        }
        for name in ["old", "mid", "new"] { leases[name]!.release() }
        // "busy" (older than "mid") is in use: eviction passes over it.
        cache.evictIfNeeded()
        let fm = FileManager.default
        #expect(!fm.fileExists(atPath: leases["old"]!.directory.path))
        #expect(fm.fileExists(atPath: leases["busy"]!.directory.path))
        #expect(!fm.fileExists(atPath: leases["mid"]!.directory.path))
        #expect(fm.fileExists(atPath: leases["new"]!.directory.path))
        #expect(CacheDirectory.diskUsage(cache.root.path) <= 3 << 20)
        leases["busy"]!.release()
    }

    @Test func diskUsageCountsFilesOnceAndSkipsLinks() throws {
        let scratch = try Scratch("cache")
        let dir = scratch.sub("d")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("a"), withIntermediateDirectories: true)
        try Data(repeating: 1, count: 64 << 10).write(to: dir.appendingPathComponent("a/file"))
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("link").path, withDestinationPath: dir.appendingPathComponent("a").path)
        let usage = CacheDirectory.diskUsage(dir.path)
        #expect(usage >= 64 << 10 && usage < 2 * (64 << 10))
    }
}
