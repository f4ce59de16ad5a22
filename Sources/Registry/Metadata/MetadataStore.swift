import Foundation
import Logging
import SlipwayCore
import SQLKit

/// All reads and writes of registry metadata. Queries are SQLKit raw strings where every value is
/// a bind; the same SQL runs on SQLite and PostgreSQL. Split by resource into
/// `MetadataStore+<Resource>.swift`.
public struct MetadataStore: Sendable {
    /// The registry's own access to the shared handle; other modules get the handle from
    /// `RegistryServices.database` and wrap it in their own store.
    package let database: any Database
    /// The job queue the registry pushes work onto in its own transactions (mail, log exports).
    public let jobs: any JobQueueDriver

    public init(database: any Database, jobs: any JobQueueDriver) {
        self.database = database
        self.jobs = jobs
    }

    public func shutdown() async { await database.shutdown() }
}
