import SlipwayCore

/// All reads and writes of the accounts tables (`AccountsSchema`): namespaces (users,
/// organizations, robots), teams and their members and invitations, tokens, sessions,
/// permissions, permission prototypes, repositories and stars. Queries are SQLKit raw strings
/// where every value is a bind; the same SQL runs on SQLite and PostgreSQL. Split by resource
/// into `AccountStore+<Resource>.swift`.
public struct AccountStore: Sendable {
    /// The accounts module's access to the shared handle.
    package let database: any Database
    /// The job queue team-invitation mail is pushed onto, in the transaction that invites.
    public let jobs: any JobQueueDriver

    public init(database: any Database, jobs: any JobQueueDriver) {
        self.database = database
        self.jobs = jobs
    }
}
