import ArgumentParser
import Crypto
import Foundation
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
        var parsed: [(source: String, format: FeedFormat, digest: String, result: FeedParseResult)] = []
        for file in files {
            let data: [UInt8]
            do { data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file))) } catch {
                throw ValidationError("\(file): cannot be read (\(error.localizedDescription))")
            }
            guard let object = try? JSONSerialization.jsonObject(with: Data(data)), let format = FeedFormat.detect(object) else {
                throw ValidationError("\(file): not an OSV, Debian Security Tracker or Alpine SecDB JSON file")
            }
            let result: FeedParseResult
            do { result = try format.parse(data, file: file) } catch { throw ValidationError(error.description) }
            let digest = "sha256:" + SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
            parsed.append(("\(format.rawValue):\(URL(fileURLWithPath: file).lastPathComponent)", format, digest, result))
        }
        let config = try options.load()
        try await SlipwaySchema.withDatabase(config: config, logger: makeLogger(config)) { database in
            let store = VulnerabilityStore(database: database)
            for item in parsed {
                switch try await store.replace(source: item.source, format: item.format, contentDigest: item.digest, with: item.result) {
                case .unchanged:
                    print("\(item.source): unchanged (the same content was imported before)")
                case .imported(let advisories, let skipped):
                    print("\(item.source): \(advisories) advisories imported, \(skipped) entries skipped")
                    for entry in item.result.skipped.prefix(20) { print("  skipped \(entry.id): \(entry.reason)") }
                    if item.result.skipped.count > 20 { print("  ... and \(item.result.skipped.count - 20) more") }
                }
            }
        }
    }
}

struct VulnsStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "List the imported vulnerability sources.")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let config = try options.load()
        let sources = try await SlipwaySchema.withDatabase(config: config, logger: makeLogger(config)) { database in
            try await VulnerabilityStore(database: database).sources()
        }
        guard !sources.isEmpty else {
            print("no vulnerability data imported (slipway admin vulns import FILE...)")
            return
        }
        let now = Clock.nowMillis()
        print("SOURCE\tFORMAT\tADVISORIES\tSKIPPED\tAGE")
        for source in sources {
            let hours = Double(now - source.importedAt) / 3_600_000
            print("\(source.name)\t\(source.format)\t\(source.advisories)\t\(source.skipped)\t\(String(format: "%.1f h", hours))")
        }
    }
}
