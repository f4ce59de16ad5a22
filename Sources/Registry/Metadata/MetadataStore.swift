import Foundation
import Logging
import SlipwayCore
import SQLKit

/// All reads and writes of the registry's OCI metadata: blobs, repository blob links,
/// manifests and their blobs, children and labels, tags, uploads, and the collector's queries.
/// Queries are SQLKit raw strings where every value is a bind; the same SQL runs on SQLite and
/// PostgreSQL. Split by resource into `MetadataStore+<Resource>.swift`. Accounts (namespaces,
/// repositories, permissions, ...) are `AccountStore`'s.
public struct MetadataStore: Sendable {
    /// The registry's own access to the shared handle; other modules get the handle from
    /// `RegistryServices.database` and wrap it in their own store.
    package let database: any Database
    /// Group commit of concurrent tag moves (see `TagMoveBatcher`).
    let tagMoves = TagMoveBatcher()

    public init(database: any Database) {
        self.database = database
    }

    public func shutdown() async { await database.shutdown() }
}
