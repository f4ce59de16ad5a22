import ArgumentParser
import Crypto
import Foundation
import ScanService
import Scanner
import SlipwayCore
import SlipwayServer

/// `slipway admin vulns`: vulnerability data for the scanner, for installs without network
/// (import files fetched elsewhere) and to see what is loaded.
struct Vulns: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import vulnerability feeds and show what is loaded.",
        subcommands: [VulnsImport.self, VulnsStatus.self])
}

struct VulnsImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import feed files (OSV JSON, Debian Security Tracker JSON, Alpine SecDB); each replaces its source as a whole.")

    @OptionGroup var options: CommonOptions
    @Argument(help: "Feed files. A file's source name is its format and file name (osv:FILE, debian:FILE, alpine:FILE).")
    var files: [String]

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("name at least one feed file") }
    }

    func run() async throws {
        // Every file is read and parsed before anything is written: a bad file imports nothing.
        var parsed: [(file: FeedFile, digest: String)] = []
        for path in files {
            let file: FeedFile
            do { file = try FeedFile.read(path) } catch { throw ValidationError(error.description) }
            parsed.append((file, "sha256:" + SHA256.hash(data: file.data).map { String(format: "%02x", $0) }.joined()))
        }
        let config = try options.load()
        try await SlipwaySchema.withDatabase(config: config, logger: makeLogger(config)) { database in
            let store = VulnerabilityStore(database: database)
            for (file, digest) in parsed {
                switch try await store.replace(source: file.sourceName, format: file.format, contentDigest: digest, with: file.result) {
                case .unchanged:
                    print("\(file.sourceName): unchanged (the same content was imported before)")
                case .imported(let advisories, let skipped):
                    print("\(file.sourceName): \(advisories) advisories imported, \(skipped) entries skipped")
                    for entry in file.result.skipped.prefix(20) { print("  skipped \(entry.id): \(entry.reason)") }
                    if file.result.skipped.count > 20 { print("  ... and \(file.result.skipped.count - 20) more") }
                }
            }
        }
    }
}

struct VulnsStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "List the scan counts, the imported vulnerability sources and the state of the configured feeds.")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let config = try options.load()
        let (sources, feeds, scans, layers) = try await SlipwaySchema.withDatabase(config: config, logger: makeLogger(config)) { database in
            let scans = ScanStore(database: database)
            return (try await VulnerabilityStore(database: database).sources(), try await FeedStateStore(database: database).states(),
                    try await scans.counts(), try await scans.layerCount())
        }
        // What the scan pipeline has done with pushed manifests.
        let order: [ScanStatus] = [.scanned, .queued, .failed, .unsupported]
        print("manifests: " + order.map { "\($0.rawValue) \(scans[$0] ?? 0)" }.joined(separator: ", ") + "; layers indexed: \(layers)")
        let now = Clock.nowMillis()
        func hours(_ millis: Int64?) -> String { millis.map { String(format: "%.1f h", Double(now - $0) / 3_600_000) } ?? "-" }
        if sources.isEmpty {
            print("no vulnerability data imported (slipway admin vulns import FILE..., or security.feeds)")
        } else {
            print("SOURCE\tFORMAT\tADVISORIES\tSKIPPED\tAGE")
            for source in sources {
                print("\(source.name)\t\(source.format)\t\(source.advisories)\t\(source.skipped)\t\(hours(source.importedAt))")
            }
        }
        // The feeds the server fetches (security.feeds): when each was last checked and found
        // current, and why the last check failed.
        guard !feeds.isEmpty else { return }
        print("\nFEED\tCHECKED\tCURRENT\tLAST ERROR")
        for feed in feeds {
            print("\(feed.name)\t\(hours(feed.checkedAt))\t\(hours(feed.currentAt))\t\(feed.lastError ?? "-")")
        }
    }
}
