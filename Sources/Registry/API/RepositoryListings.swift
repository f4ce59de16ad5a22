import Accounts

extension RegistryServices {
    /// The account store's listing of the repositories the caller may see, with when each
    /// last changed taken from the registry's tags (one query for the page).
    public func listRepositories(scope: AccountStore.RepositoryListScope, userID: Int64?, after: String?,
                                 limit: Int) async throws -> [AccountStore.RepositoryListing] {
        var listings = try await accounts.listRepositories(scope: scope, userID: userID, after: after, limit: limit)
        let modified = try await store.lastModified(repositoryIDs: listings.map(\.repository.id))
        for index in listings.indices {
            listings[index].lastModified = modified[listings[index].repository.id]
        }
        return listings
    }
}
