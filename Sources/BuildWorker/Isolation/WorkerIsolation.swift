// How a worker process (remote or in-process) isolates its builds, decided once at start: the
// isolation mode, the build user of rootless builds (set up or checked by RootlessSetup), and
// work and cache directories that user can reach.

import Foundation
import Logging

public struct WorkerIsolation: Sendable {
    public let isolation: BuilderIsolation
    public let buildUser: BuildUser?
    public let workRoot: URL
    public let cacheDirectory: URL
    /// The storage driver of the base-image cache; nil: the cache probes it.
    public let cacheDriver: String?

    /// The worker's base-image cache, in `cacheDirectory`, with its storages owned by the build
    /// user; nil when disabled (`maxBytes` 0) or unavailable (logged).
    public func baseImageCache(maxBytes: Int64, logger: Logger) -> BaseImageCache? {
        BaseImageCache.optional(directory: cacheDirectory, maxBytes: maxBytes, driver: cacheDriver, owner: buildUser, logger: logger)
    }

    /// Prepares `isolation` on a thread of its own (it may create a user and run buildah once).
    /// Throws with what to install or change when rootless builds cannot run here.
    public static func prepare(isolation: BuilderIsolation, buildUserName: String, builder: String,
                               workRoot: URL, cacheDirectory: URL, logger: Logger, setUp: Bool = true) async throws -> WorkerIsolation {
        // A server without in-process workers runs no build here: nothing to prepare.
        guard setUp else {
            return WorkerIsolation(isolation: isolation, buildUser: nil, workRoot: workRoot, cacheDirectory: cacheDirectory, cacheDriver: nil)
        }
        guard isolation == .rootless else {
            logger.notice("builds run with \(isolation.rawValue) isolation: a RUN step is not isolated from this worker's processes",
                          metadata: ["isolation": "\(isolation.rawValue)"])
            return WorkerIsolation(isolation: isolation, buildUser: nil, workRoot: workRoot, cacheDirectory: cacheDirectory, cacheDriver: nil)
        }
        let readiness = try await DedicatedThread.run(name: "slipway-rootless-setup") { () throws -> RootlessSetup.Readiness in
            try RootlessSetup.prepare(userName: buildUserName, builder: builder, logger: logger)
        }
        let user = readiness.user
        let work = RootlessSetup.reachableDirectory(workRoot, for: user)
        let cache = RootlessSetup.reachableDirectory(cacheDirectory, for: user)
        if work != workRoot || cache != cacheDirectory {
            logger.notice("the build user cannot reach the configured directories; rootless builds use its home instead",
                          metadata: ["work_dir": "\(work.path)", "cache_dir": "\(cache.path)"])
        }
        if let user {
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            try user.take(work.path)
        }
        return WorkerIsolation(isolation: isolation, buildUser: user, workRoot: work, cacheDirectory: cache, cacheDriver: readiness.storageDriver)
    }
}
