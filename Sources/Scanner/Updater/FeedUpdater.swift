// Keeps configured vulnerability feeds (`security.feeds`) current: each feed, when due, is
// fetched through the outbound client (SSRF gate, deadline, size cap) with the validators of
// the content last imported (If-None-Match / If-Modified-Since), streamed to a private
// temporary file, parsed whole, and only then imported through `VulnerabilityStore.replace`,
// which swaps the source's advisories in one transaction. A failed, truncated, oversized or
// unparseable download therefore leaves the imported data (and its validators) as they were.
//
// Several replicas may run it: `FeedStateStore.claim` lets one of them fetch each feed per
// interval. It also records the age of every source (`slipway_scanner_feed_age_seconds`).

import Crypto
import Foundation
import Logging
import Metrics
import NIOPosix
import OutboundHTTP
import ServiceLifecycle
import SlipwayCore

public struct FeedUpdater: Service {
    public struct Settings: Sendable {
        public var feeds: [SlipwayConfig.FeedSource]
        /// Milliseconds between checks of a feed; 0 disables fetching.
        public var intervalMillis: Int64
        /// How long one fetch may take, and so how long a claim on a feed lasts (plus a margin).
        public var fetchTimeout: Duration = .seconds(600)
        /// A fetch that failed is tried again after this long (or the interval, if shorter).
        public var retryMillis: Int64 = 600_000
        /// How often the service looks for due feeds and records the ages.
        public var checkEvery: Duration = .seconds(60)
        public var maxBytes: Int64
        public var allowPrivateTargets: Bool

        public init(config: SlipwayConfig) {
            feeds = config.security.feeds
            intervalMillis = Int64(config.security.updateIntervalSeconds) * 1000
            maxBytes = config.security.feedMaxBytes
            allowPrivateTargets = config.security.allowPrivateTargets
        }

        var leaseMillis: Int64 { fetchTimeout.components.seconds * 1000 + 60_000 }
    }

    /// What one check of a feed did.
    public enum Outcome: Sendable, Equatable {
        case imported(advisories: Int, skipped: Int)
        /// A 200 with the content imported before.
        case unchanged
        /// 304: the server says the content has not changed.
        case notModified
        case failed(String)
    }

    public let settings: Settings
    let vulnerabilities: VulnerabilityStore
    let state: FeedStateStore
    let http: OutboundHTTPClient
    let logger: Logger

    public init(database: any Database, settings: Settings, logger: Logger) {
        self.settings = settings
        vulnerabilities = VulnerabilityStore(database: database)
        state = FeedStateStore(database: database)
        http = OutboundHTTPClient(.init(allowPrivateTargets: settings.allowPrivateTargets, timeout: settings.fetchTimeout,
                                        idleTimeout: .seconds(60), maxResponseBodyBytes: settings.maxBytes))
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.runDue(now: Clock.nowMillis())
                await self.recordAges(now: Clock.nowMillis())
                try await Task.sleep(for: self.settings.checkEvery)
            }
        }
    }

    /// Checks every feed due at `now` that this replica gets to claim. Tests call it directly
    /// with the time they want.
    @discardableResult
    public func runDue(now: Int64) async -> [String: Outcome] {
        guard settings.intervalMillis > 0, !settings.feeds.isEmpty else { return [:] }
        var outcomes: [String: Outcome] = [:]
        do {
            try await state.register(settings.feeds.map { ($0.name, $0.url) })
            for feed in settings.feeds {
                guard let claim = try await state.claim(name: feed.name, url: feed.url, now: now, lease: settings.leaseMillis) else { continue }
                outcomes[feed.name] = await check(feed, claim: claim, now: now)
            }
        } catch {
            logger.error("vulnerability feed state unavailable", metadata: ["error": "\(error)"])
        }
        return outcomes
    }

    /// Fetches, parses and imports one claimed feed, and records the outcome.
    func check(_ feed: SlipwayConfig.FeedSource, claim: FeedStateStore.Claim, now: Int64) async -> Outcome {
        let metadata: Logger.Metadata = ["feed": "\(feed.name)"]
        let fetched: (Outcome, (etag: String?, lastModified: String?))
        do {
            fetched = try await fetch(feed, claim: claim)
        } catch {
            let message = (error as? FeedUpdateError)?.message ?? "\(error)"
            logger.warning("vulnerability feed update failed; the imported data stays", metadata: metadata.merging(["error": "\(message)"]) { $1 })
            try? await state.failed(name: feed.name, error: message, now: now, next: now + min(settings.retryMillis, settings.intervalMillis))
            return .failed(message)
        }
        let (outcome, validators) = fetched
        do {
            try await state.succeeded(name: feed.name, etag: validators.etag, lastModified: validators.lastModified,
                                      now: now, next: now + settings.intervalMillis)
        } catch {
            logger.error("vulnerability feed state not saved", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        }
        switch outcome {
        case .imported(let advisories, let skipped):
            logger.info("vulnerability feed imported", metadata: metadata.merging(["advisories": "\(advisories)", "skipped": "\(skipped)"]) { $1 })
        default:
            logger.debug("vulnerability feed unchanged", metadata: metadata)
        }
        return outcome
    }

    private func fetch(_ feed: SlipwayConfig.FeedSource, claim: FeedStateStore.Claim) async throws
        -> (Outcome, (etag: String?, lastModified: String?)) {
        let format: FeedFormat?
        if let name = feed.format {
            guard let known = FeedFormat(rawValue: name) else { throw FeedUpdateError("unknown format \(name)") }
            format = known
        } else {
            format = nil
        }
        var headers: [(String, String)] = []
        if let etag = claim.etag { headers.append(("If-None-Match", etag)) }
        if let lastModified = claim.lastModified { headers.append(("If-Modified-Since", lastModified)) }

        let directory = try Self.privateDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("feed")
        let download: OutboundHTTPClient.Download
        do {
            download = try await http.download(feed.url, to: file, maxBytes: settings.maxBytes, headers: headers,
                                               returning: ["etag", "last-modified"])
        } catch {
            throw FeedUpdateError("download failed: \(error)")
        }
        let etag = download.headers["etag"], lastModified = download.headers["last-modified"]
        if download.status == 304 {
            return (.notModified, (etag ?? claim.etag, lastModified ?? claim.lastModified))
        }
        guard download.status / 100 == 2 else { throw FeedUpdateError("HTTP status \(download.status)") }

        // Parsing a feed is seconds of CPU for the large ones: off the cooperative pool.
        let path = file.path
        let parsed: (FeedFile, String) = try await NIOThreadPool.singleton.runIfActive {
            let feedFile: FeedFile
            do throws(FeedError) { feedFile = try FeedFile.read(path, format: format) } catch {
                throw FeedUpdateError("not a usable feed: \(error.message)")
            }
            let digest = "sha256:" + SHA256.hash(data: feedFile.data).map { String(format: "%02x", $0) }.joined()
            return (feedFile, digest)
        }
        let (feedFile, digest) = parsed
        let outcome: Outcome
        switch try await vulnerabilities.replace(source: feed.name, format: feedFile.format, contentDigest: digest, with: feedFile.result) {
        case .imported(let advisories, let skipped): outcome = .imported(advisories: advisories, skipped: skipped)
        case .unchanged: outcome = .unchanged
        }
        return (outcome, (etag, lastModified))
    }

    /// A directory only this process can use (the download is created in it by name).
    static func privateDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-feed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        return directory
    }

    /// Records `slipway_scanner_feed_age_seconds{source}` for every imported source.
    public func recordAges(now: Int64) async {
        do {
            for (source, age) in try await FeedAges(vulnerabilities: vulnerabilities, state: state).ages(now: now) {
                Gauge(label: "slipway_scanner_feed_age_seconds", dimensions: [("source", source)]).record(age / 1000)
            }
        } catch {
            logger.error("vulnerability feed ages unavailable", metadata: ["error": "\(error)"])
        }
    }
}

struct FeedUpdateError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
