import Hummingbird

/// The authenticated caller of an `/api/v1` request and the OAuth-style scopes its token carries.
public struct APICaller: Sendable {
    public let user: Namespace
    public let scopes: Set<String>

    /// Scopes cap what a token may do; they never grant a role the user lacks.
    public func require(_ scope: String) throws(APIError) {
        if scopes.contains(scope) { return }
        // admin ⊃ write ⊃ read within each family.
        let implied: [String: [String]] = [
            "repo:read": ["repo:write", "repo:admin"], "repo:write": ["repo:admin"],
            "user:read": ["user:admin"],
        ]
        if let stronger = implied[scope], stronger.contains(where: scopes.contains) { return }
        throw APIError.insufficientScope("the token lacks the \(scope) scope")
    }
}

/// Authenticates `/api/v1` requests with `Authorization: Bearer <API token>`. (Cookie sessions
/// arrive with the web UI.)
struct APIAuthenticator: Sendable {
    let store: MetadataStore

    func caller(_ request: Request) async throws -> APICaller {
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw APIError.invalidToken
        }
        guard let (user, scopes) = try await store.apiToken(hash: APITokens.hash(String(header.dropFirst(7)))) else {
            throw APIError(.unauthorized, "invalid_token", "The access token is invalid or expired")
        }
        return APICaller(user: user, scopes: Set(scopes))
    }
}
