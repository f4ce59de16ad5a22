// What reading one feed file gives: the advisories it holds and the entries it had to skip,
// each with its reason. A file that is not the feed's format at all is a `FeedError` instead,
// and an import that meets one imports nothing.

public struct FeedParseResult: Sendable {
    public var advisories: [Advisory] = []
    public var skipped: [SkippedEntry] = []

    public init() {}

    public struct SkippedEntry: Sendable, Equatable {
        public let id: String
        public let reason: String
    }

    mutating func skip(_ id: String, _ reason: String) {
        skipped.append(SkippedEntry(id: id, reason: reason))
    }
}

public struct FeedError: Error, Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let message: String

    public var description: String { "\(file): \(message)" }
}

/// The feed formats the scanner imports.
public enum FeedFormat: String, Sendable, CaseIterable {
    /// OSV JSON: one advisory per object, or an array of them.
    case osv
    /// The Debian Security Tracker's `json` export.
    case debianTracker = "debian"
    /// An Alpine SecDB file (`main.json`, `community.json` of one branch).
    case alpineSecDB = "alpine"

    /// Parses `data` (the whole file) as this format.
    public func parse(_ data: [UInt8], file: String) throws(FeedError) -> FeedParseResult {
        switch self {
        case .osv: try OSVFeed.parse(data, file: file)
        case .debianTracker: try DebianTrackerFeed.parse(data, file: file)
        case .alpineSecDB: try AlpineSecDBFeed.parse(data, file: file)
        }
    }

    /// Recognises a file's format from its top-level shape, for `slipway admin vulns import`
    /// given files without saying what they are.
    public static func detect(_ object: Any) -> FeedFormat? {
        if let dictionary = object as? [String: Any] {
            if dictionary["id"] is String && (dictionary["affected"] != nil || dictionary["modified"] != nil) { return .osv }
            if dictionary["distroversion"] is String && dictionary["packages"] is [Any] { return .alpineSecDB }
            if let first = dictionary.values.first as? [String: Any], let entry = first.values.first as? [String: Any],
               entry["releases"] is [String: Any] { return .debianTracker }
            return nil
        }
        if let array = object as? [Any], let first = array.first as? [String: Any], first["id"] is String { return .osv }
        return nil
    }
}
