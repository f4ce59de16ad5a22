// OSV's per-ecosystem exports (`https://osv-vulnerabilities.storage.googleapis.com/ECOSYSTEM/all.zip`):
// a zip of one JSON advisory per file. Each `.json` entry is parsed as OSV and the results are
// merged; an entry that is not valid JSON, or larger than an advisory can reasonably be, is
// skipped with its reason like any other unusable entry. The archive is read from memory
// through libarchive, with caps on entries and expanded bytes (a zip bomb is a `FeedError`).

import CLibarchive

enum OSVArchive {
    static let maximumEntryBytes = 16 << 20
    static let maximumEntries = 2_000_000
    static let maximumExpandedBytes = 4 << 30

    /// Whether `data` is a zip archive (local file header magic).
    static func isZip(_ data: [UInt8]) -> Bool {
        data.count >= 4 && data[0] == 0x50 && data[1] == 0x4b && data[2] == 0x03 && data[3] == 0x04
    }

    static func parse(_ data: [UInt8], file: String) throws(FeedError) -> FeedParseResult {
        let archive: LibarchiveReader
        do throws(LayerReadError) { archive = try LibarchiveReader(formats: [.zip]) } catch { throw FeedError(file: file, message: error.message) }
        var result = FeedParseResult()
        var failure: FeedError?
        data.withUnsafeBytes { buffer in
            guard archive_read_open_memory(archive.pointer, buffer.baseAddress, buffer.count) == ARCHIVE_OK else {
                failure = FeedError(file: file, message: "not a readable zip archive: \(archive.errorMessage)")
                return
            }
            var entries = 0, expanded = 0
            do throws(LayerReadError) {
                while let entry = try archive.nextEntry() {
                    entries += 1
                    guard entries <= maximumEntries, expanded <= maximumExpandedBytes else {
                        failure = FeedError(file: file, message: "the archive expands past \(maximumEntries) entries or \(maximumExpandedBytes >> 30) GiB")
                        return
                    }
                    guard entry.isRegularFile, let name = entry.pathname, name.hasSuffix(".json") else { continue }
                    guard let bytes = try archive.readData(maximum: maximumEntryBytes) else {
                        result.skip(name, "larger than \(maximumEntryBytes >> 20) MiB")
                        continue
                    }
                    expanded += bytes.count
                    do throws(FeedError) {
                        let parsed = try OSVFeed.parse(bytes, file: name)
                        result.advisories += parsed.advisories
                        result.skipped += parsed.skipped
                    } catch {
                        result.skip(name, error.message)
                    }
                }
            } catch {
                failure = FeedError(file: file, message: "the zip archive is damaged: \(error.message)")
            }
        }
        if let failure { throw failure }
        return result
    }
}
