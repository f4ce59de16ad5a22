import SlipwayCore

/// The job of one stage of a log export (queue `log-export`): `write` the file, then, when there
/// is a callback URL, `callback`. Its reference is the export's uuid. audit#3 wrote the jobs of
/// exports queued before the move onto the job queue in this same shape.
public struct LogExportJob: Codable, Sendable {
    public static let queue = "log-export"
    /// The job's own bound on attempts; the exporter gives up earlier (`maxExportAttempts`,
    /// `maxCallbackAttempts`) and records why on the row.
    public static let attemptLimit = 25

    public enum Stage: String, Codable, Sendable {
        case write, callback
    }

    public let export: Int64
    public let stage: Stage

    public init(export: Int64, stage: Stage) {
        self.export = export
        self.stage = stage
    }

    static func request(_ export: Int64, uuid: String, stage: Stage, at: Int64) throws -> JobRequest {
        try JobRequest(queue: queue, encoding: LogExportJob(export: export, stage: stage), reference: uuid, maxAttempts: attemptLimit,
                       notBefore: at)
    }
}
