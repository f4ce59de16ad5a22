import Accounts
import Registry

// `TestRegistry.createUser` still calls `services.store.createUser`; users are the account
// store's now. This keeps that one call compiling until TestRegistry.swift (not this change's
// to edit) calls `services.accounts.createUser`; then this file goes.
extension MetadataStore {
    @discardableResult
    public func createUser(name: String, passwordHash: String, email: String?, superuser: Bool = false) async throws -> Namespace {
        try await database.transaction { db in
            try await AccountStore.createUser(name: name, passwordHash: passwordHash, email: email, superuser: superuser, in: db)
        }
    }
}
