import SlipwayCore

/// Which stage an export is at: `queued` (logs still to write), `delivering` (callback still to
/// post), then `done` or `failed`.
public enum LogExportStatus: String, Sendable {
    case queued, delivering, done, failed
}

/// What the callback receiver is told (`ExportResult` in Quay's worker).
public enum LogExportResult: String, Sendable {
    case success, failed, timedout, invalidrequest
}

/// A log export as stored: what the API shows of it and what its stages work from.
public struct LogExport: Sendable {
    public let id: Int64
    public let uuid: String
    public let requesterID: Int64
    public let scope: UsageLogScope
    public let namespaceName: String
    public let repositoryName: String?
    /// `[start, end)` in epoch milliseconds, as `LogsAPI.range` computed it.
    public let start: Int64
    public let end: Int64
    public let callbackURL: String?
    public let callbackEmail: String?
    /// `pending` | `queued` | `sent` | `failed` when there is a `callbackEmail`.
    public let emailStatus: String?
    /// Base URL of the request that queued the export, for the download link.
    public let origin: String
    public let status: LogExportStatus
    public let result: LogExportResult?
    public let storageDigest: Digest?
    public let size: Int64?
    public let exportAttempts: Int
    /// none | pending | delivered | failed | refused
    public let callbackStatus: String
    public let callbackAttempts: Int
    public let lastError: String?
    public let createdAt: Int64
    public let exportedAt: Int64?
    public let finishedAt: Int64?
}
