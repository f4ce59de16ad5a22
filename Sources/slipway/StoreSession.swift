import Registry

// The operator commands open the data store, do one thing and exit. Each close is awaited in the
// command's own task, exactly once, before `run()` returns: a close handed to an unstructured
// `Task` (as `defer { Task { ... } }`) ran a second time beside the explicit one, or after
// `main` had returned, and crashed the process in SQLite's close (issue #16).

/// Opens the metadata store, runs `body` and closes the store, whether `body` returns or throws.
func withMetadataStore<T>(_ config: SlipwayConfig, _ body: (MetadataStore) async throws -> T) async throws -> T {
    let store = try await MetadataStore.open(config: config, logger: makeLogger(config))
    return try await closing(store) { try await body(store) }
}

/// Opens the registry services (store, storage, token service), runs `body` and closes the
/// store, whether `body` returns or throws.
func withRegistryServices<T>(_ config: SlipwayConfig, _ body: (RegistryServices) async throws -> T) async throws -> T {
    let built = try await SlipwayApplication.makeServices(config: config, environment: [:], logger: makeLogger(config))
    return try await closing(built.services.store) { try await body(built.services) }
}

private func closing<T>(_ store: MetadataStore, _ body: () async throws -> T) async throws -> T {
    do {
        let result = try await body()
        await store.shutdown()
        return result
    } catch {
        await store.shutdown()
        throw error
    }
}
