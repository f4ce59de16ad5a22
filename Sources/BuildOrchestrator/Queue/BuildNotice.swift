/// One change to the shared build queue, as replicas tell each other on PostgreSQL
/// (`NOTIFY slipway_builds`). The payload names what changed, not the new state: a replica
/// reads the build's row (or drops a finished build) and applies it to its scheduler state.
/// One notification carries one notice per line (a group commit of many builds sends one).
struct BuildNotice: Sendable, Hashable {
    enum Operation: String, Sendable {
        case queued, leased, requeued, stopping, finished
    }

    static let channel = "slipway_builds"

    var operation: Operation
    var buildID: String
    var namespaceID: Int64
    var repositoryID: Int64
    /// The replica that made the change (it applied it already and skips its own notices).
    var origin: String

    var line: String { "\(operation.rawValue) \(buildID) \(namespaceID) \(repositoryID) \(origin)" }

    init(_ operation: Operation, buildID: String, namespaceID: Int64, repositoryID: Int64, origin: String) {
        self.operation = operation
        self.buildID = buildID
        self.namespaceID = namespaceID
        self.repositoryID = repositoryID
        self.origin = origin
    }

    init?(line: Substring) {
        let parts = line.split(separator: " ")
        guard parts.count == 5, let operation = Operation(rawValue: String(parts[0])),
              let namespace = Int64(parts[2]), let repository = Int64(parts[3]) else { return nil }
        self.init(operation, buildID: String(parts[1]), namespaceID: namespace, repositoryID: repository, origin: String(parts[4]))
    }

    /// The notices of one payload; lines that do not parse are skipped.
    static func parse(_ payload: String) -> [BuildNotice] {
        payload.split(separator: "\n").compactMap(BuildNotice.init(line:))
    }

    /// Payloads under PostgreSQL's 8000-byte limit, one line per notice.
    static func payloads(_ notices: [BuildNotice]) -> [String] {
        var payloads: [String] = [], current = ""
        for notice in notices {
            let line = notice.line
            if !current.isEmpty, current.utf8.count + line.utf8.count + 1 > 7000 {
                payloads.append(current)
                current = ""
            }
            current += current.isEmpty ? line : "\n" + line
        }
        if !current.isEmpty { payloads.append(current) }
        return payloads
    }
}
