// One build's use of its namespace's storage in the base-image cache: where the storage is,
// and the shared flock that keeps it from being dropped while the build runs.

import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public final class BaseImageCacheLease: Sendable {
    public let namespace: String
    public let directory: URL
    public let driver: String
    private let lockDescriptor: Mutex<Int32>

    init(namespace: String, directory: URL, driver: String, lockDescriptor: Int32) {
        self.namespace = namespace
        self.directory = directory
        self.driver = driver
        self.lockDescriptor = Mutex(lockDescriptor)
    }

    /// graphroot / runroot / driver for the build's storage.conf.
    public var storage: ContainerStorageLocation {
        ContainerStorageLocation(graphroot: directory.appendingPathComponent("storage").path,
                                 runroot: directory.appendingPathComponent("run").path, driver: driver)
    }

    /// Makes the next build of the namespace drop and rebuild the storage (it made a build fail
    /// that then succeeded in a fresh storage).
    public func markBroken() {
        FileManager.default.createFile(atPath: directory.appendingPathComponent(CacheStorageCheck.brokenMarker).path, contents: nil)
    }

    /// Gives up the shared lock (idempotent).
    func release() {
        lockDescriptor.withLock { fd in
            guard fd >= 0 else { return }
            close(fd)  // closing the only descriptor of the open file releases its flock
            fd = -1
        }
    }

    deinit { release() }
}

/// Where a builder's containers-storage lives when it is not the build's own fresh one.
public struct ContainerStorageLocation: Sendable, Equatable {
    public var graphroot: String
    public var runroot: String
    public var driver: String

    public init(graphroot: String, runroot: String, driver: String) {
        self.graphroot = graphroot
        self.runroot = runroot
        self.driver = driver
    }
}
