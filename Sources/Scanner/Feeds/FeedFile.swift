// A feed file read whole, its format recognised from its content and parsed: what
// `slipway admin vulns import`, `slipway admin scan-layers --feed` and the feed updater load.
// An OSV `all.zip` export is one file too.

import Foundation

public struct FeedFile: Sendable {
    public let path: String
    public let format: FeedFormat
    /// The file's bytes (the importer hashes them to skip content it already has).
    public let data: [UInt8]
    public let result: FeedParseResult

    /// The source an import of this file replaces: its format and file name (`osv:FILE`).
    public var sourceName: String { "\(format.rawValue):\(URL(fileURLWithPath: path).lastPathComponent)" }

    /// Reads and parses the file at `path`, as `format` when given (a configured feed), else
    /// as the format its content shows.
    public static func read(_ path: String, format declared: FeedFormat? = nil) throws(FeedError) -> FeedFile {
        let data: [UInt8]
        do { data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw FeedError(file: path, message: "cannot be read (\(error.localizedDescription))")
        }
        // OSV's all.zip exports: a zip of advisories, OSV whatever the format says.
        if OSVArchive.isZip(data) {
            guard declared == nil || declared == .osv else { throw FeedError(file: path, message: "a zip archive is an OSV export, not \(declared!.rawValue)") }
            return FeedFile(path: path, format: .osv, data: data, result: try OSVArchive.parse(data, file: path))
        }
        if let declared { return FeedFile(path: path, format: declared, data: data, result: try declared.parse(data, file: path)) }
        guard let format = FeedFormat.detect(try JSONInput.object(data, file: path)) else {
            throw FeedError(file: path, message: "not an OSV, Debian Security Tracker or Alpine SecDB JSON file")
        }
        return FeedFile(path: path, format: format, data: data, result: try format.parse(data, file: path))
    }
}
