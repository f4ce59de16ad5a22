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
        for path in feed {
            let file: FeedFile
            do { file = try FeedFile.read(path) } catch { throw ValidationError(error.description) }
            for skipped in file.result.skipped {
                FileHandle.standardError.write(Data("\(path): skipped \(skipped.id): \(skipped.reason)\n".utf8))
            }
            file.result.advisories.forEach { advisories.add($0) }
        }
        let report = Matcher.report(manifest: layers.last.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "",
                                    index: index, advisories: advisories)
        FileHandle.standardOutput.write(try encoder.encode(SecurityResponse(status: .scanned, data: report)))
        print()
    }
}
