import SlipwayCore

/// All reads and writes of the audit module's tables: usage logs (`usage_logs`, audit#1) and
/// log exports (`log_exports`, audit#2, with their `log-export` jobs). Queries are SQLKit raw
/// strings where every value is a bind; the same SQL runs on SQLite and PostgreSQL. Split by
/// table into `AuditStore+<Table>.swift`.
public struct AuditStore: Sendable {
    /// The audit module's access to the shared handle.
    public let database: any Database
    /// The job queue log exports are pushed onto, in the transaction that queues them.
    public let jobs: any JobQueueDriver

    public init(database: any Database, jobs: any JobQueueDriver) {
        self.database = database
        self.jobs = jobs
    }
}
