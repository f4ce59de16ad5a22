import Accounts
import Registry
import SlipwayCore
import SlipwayServer

// The operator commands open the data store, do one thing and exit. Each close is awaited in the
// command's own task, exactly once, before `run()` returns: a close handed to an unstructured
// `Task` (as `defer { Task { ... } }`) ran a second time beside the explicit one, or after
// `main` had returned, and crashed the process in SQLite's close (issue #16).

/// Opens the database (migrated), runs `body` with its account store and closes it, whether
/// `body` returns or throws.
func withAccountStore<T>(_ config: SlipwayConfig, _ body: (AccountStore) async throws -> T) async throws -> T {
    let logger = makeLogger(config)
    return try await SlipwaySchema.withDatabase(config: config, logger: logger) { database in
        try await body(AccountStore(database: database, jobs: try JobQueueDrivers.driver(for: database, logger: logger)))
    }
}

/// Opens the registry services (store, storage, token service), runs `body` and closes the
/// database, whether `body` returns or throws.
func withRegistryServices<T>(_ config: SlipwayConfig, _ body: (RegistryServices) async throws -> T) async throws -> T {
    let logger = makeLogger(config)
    return try await SlipwaySchema.withDatabase(config: config, logger: logger) { database in
        let built = try await SlipwayApplication.makeServices(config: config, database: database, environment: [:], logger: logger)
        return try await body(built.services)
    }
}
