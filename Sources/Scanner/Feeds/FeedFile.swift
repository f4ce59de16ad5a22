// A feed file read whole, its format recognised from its content and parsed: what
// `slipway admin vulns import` and `slipway admin scan-layers --feed` load.

import Foundation

public struct FeedFile: Sendable {
    public let path: String
    public let format: FeedFormat
    /// The file's bytes (the importer hashes them to skip content it already has).
    public let data: [UInt8]
    public let result: FeedParseResult

    /// The source an import of this file replaces: its format and file name (`osv:FILE`).
    public var sourceName: String { "\(format.rawValue):\(URL(fileURLWithPath: path).lastPathComponent)" }

    public static func read(_ path: String) throws(FeedError) -> FeedFile {
        let data: [UInt8]
        do { data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw FeedError(file: path, message: "cannot be read (\(error.localizedDescription))")
        }
        guard let format = FeedFormat.detect(try JSONInput.object(data, file: path)) else {
            throw FeedError(file: path, message: "not an OSV, Debian Security Tracker or Alpine SecDB JSON file")
        }
        return FeedFile(path: path, format: format, data: data, result: try format.parse(data, file: path))
    }
}
