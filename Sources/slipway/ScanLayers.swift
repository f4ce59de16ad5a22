import ArgumentParser
import Foundation
import Scanner

/// `slipway admin scan-layers`: the scanner run offline over layer files an operator has (a
/// `skopeo copy ... dir:` export, say), printing the report the registry would store. Also what
/// the indexing benchmark times against `tar -tzf`.
struct ScanLayers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan-layers",
        abstract: "Index image layers (bottom first) and print the packages found, or a vulnerability report with --feed.")

    @Option(name: .long, help: "A vulnerability feed file (OSV JSON, Debian Security Tracker JSON or Alpine SecDB); repeatable.")
    var feed: [String] = []
    @Argument(help: "Layer files (tar, optionally gzip/zstd/xz/bzip2-compressed), the base layer first.")
    var layers: [String]

    func validate() throws {
        guard !layers.isEmpty else { throw ValidationError("name at least one layer file") }
    }

    func run() throws {
        var contents: [(digest: String, contents: LayerContents)] = []
        for layer in layers {
            do {
                contents.append((URL(fileURLWithPath: layer).lastPathComponent, try LayerReader.read(path: layer)))
            } catch {
                throw ValidationError("\(layer): \(error)")
            }
        }
        let index = ImageIndex(layers: contents)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard !feed.isEmpty else {
            FileHandle.standardOutput.write(try encoder.encode(index))
            print()
            return
        }
        var advisories = AdvisoryIndex()
        for file in feed {
            let data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
            let object = try? JSONSerialization.jsonObject(with: Data(data))
            guard let format = object.flatMap(FeedFormat.detect) else {
                throw ValidationError("\(file): not an OSV, Debian Security Tracker or Alpine SecDB file")
            }
            let parsed = try format.parse(data, file: file)
            for skipped in parsed.skipped {
                FileHandle.standardError.write(Data("\(file): skipped \(skipped.id): \(skipped.reason)\n".utf8))
            }
            parsed.advisories.forEach { advisories.add($0) }
        }
        let report = Matcher.report(manifest: layers.last.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "",
                                    index: index, advisories: advisories)
        FileHandle.standardOutput.write(try encoder.encode(SecurityResponse(status: .scanned, data: report)))
        print()
    }
}
