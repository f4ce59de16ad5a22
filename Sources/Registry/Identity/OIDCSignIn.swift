import Accounts
import Foundation
import Logging
import OutboundHTTP
import SlipwayCore

/// Why a web sign-in through a provider did not complete. `message` is shown to the person and
/// logged; it never contains a code, token or secret.
public struct OIDCSignInFailure: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The request is wrong or stale (unknown provider, missing or replayed state).
        case badRequest
        /// The provider's answer or token is not acceptable.
        case refused
        /// The provider could not be reached or answered nonsense.
        case providerUnavailable
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}

/// The OpenID Connect authorization code flow for the web UI (issue #17 item 1), without the
/// HTTP plumbing: `start` stores a request (state, nonce, PKCE verifier) and names the URL to
/// send the browser to; `finish` takes the request back exactly once, redeems the code and
/// checks the ID token (signature through `OIDCKeySets`, then `IDTokenCheck`).
///
/// The `state` value lives in the browser (a cookie the callback compares with the query), its
/// hash in the database: a callback from another browser, a forged state, or the same callback
/// twice all fail, on any replica.
public struct OIDCSignIn: Sendable {
    let services: RegistryServices

    /// How long a started sign-in may take at the provider.
    public static let requestLifetimeSeconds: Int64 = 600
    /// The browser cookie holding the state of the sign-in in progress.
    public static let stateCookie = "slipway_oidc_state"

    public init(services: RegistryServices) {
        self.services = services
    }

    public var providers: [OIDCProviderConfig] { services.config.auth.oidc }

    public func provider(named name: String) -> OIDCProviderConfig? {
        providers.first { $0.name == name }
    }

    /// The redirect URI registered at the provider: `<origin>/oauth2/<name>/callback` (Quay's).
    public static func callbackURL(origin: String, provider: String) -> String {
        "\(origin)/oauth2/\(provider)/callback"
    }

    public struct Started: Sendable {
        public let authorizationURL: String
        public let state: String
    }

    public func start(_ provider: OIDCProviderConfig, origin: String, returnPath: String, linkUserID: Int64?)
        async throws(OIDCSignInFailure) -> Started {
        let endpoints: OIDCEndpoints
        do { endpoints = try await services.oidcKeys.endpoints(issuer: provider.issuer) } catch {
            services.logger.warning("oidc discovery failed", metadata: ["oidc.provider": "\(provider.name)", "error": "\(error.message)"])
            throw OIDCSignInFailure(.providerUnavailable, "\(provider.name) cannot be reached right now: \(error.message)")
        }
        guard let authorize = endpoints.authorization, var url = URLComponents(string: authorize) else {
            throw OIDCSignInFailure(.providerUnavailable, "\(provider.name)'s discovery document names no authorization endpoint")
        }
        let state = PKCE.randomValue(), nonce = PKCE.randomValue(), verifier = PKCE.randomValue()
        let record = OIDCAuthorizationRecord(provider: provider.name, nonce: nonce, codeVerifier: verifier, returnPath: returnPath,
                                             linkUserID: linkUserID)
        do {
            try await services.accounts.saveOIDCAuthorization(stateHash: APITokens.hash(state), record,
                                                              expiresAt: Clock.nowMillis() + Self.requestLifetimeSeconds * 1000)
        } catch {
            services.logger.error("oidc sign-in could not be stored", metadata: ["error": "\(error)"])
            throw OIDCSignInFailure(.providerUnavailable, "The sign-in could not be started. Try again later.")
        }
        url.queryItems = (url.queryItems ?? []) + [
            URLQueryItem(name: "response_type", value: "code"),
            URLQueryItem(name: "client_id", value: provider.clientID),
            URLQueryItem(name: "redirect_uri", value: Self.callbackURL(origin: origin, provider: provider.name)),
            URLQueryItem(name: "scope", value: provider.scopes.joined(separator: " ")),
            URLQueryItem(name: "state", value: state),
            URLQueryItem(name: "nonce", value: nonce),
            URLQueryItem(name: "code_challenge", value: PKCE.challenge(for: verifier)),
            URLQueryItem(name: "code_challenge_method", value: "S256"),
        ]
        // `+` is legal in a query but read as a space by form decoders.
        url.percentEncodedQuery = url.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        guard let text = url.string else { throw OIDCSignInFailure(.providerUnavailable, "\(provider.name)'s authorization endpoint is not a URL") }
        return Started(authorizationURL: text, state: state)
    }

    public struct Verified: Sendable {
        public let provider: OIDCProviderConfig
        public let request: OIDCAuthorizationRecord
        public let claims: OIDCTokenClaims
        /// The person's groups at the provider (team sync): nil when the provider has no
        /// `groupsClaim`, or its userinfo could not be read (membership then stays as it is).
        public let groups: [String]?
    }

    /// The callback: `state` from the query must equal the browser's cookie and name a stored,
    /// unexpired, unused request of this provider; then the code is redeemed and the ID token
    /// checked.
    public func finish(providerName: String, code: String?, state: String?, browserState: String?, error: String?, origin: String)
        async throws(OIDCSignInFailure) -> Verified {
        guard let provider = provider(named: providerName) else { throw OIDCSignInFailure(.badRequest, "Unknown sign-in provider") }
        guard let state, !state.isEmpty, state.utf8.count <= 256 else {
            throw OIDCSignInFailure(.badRequest, "The sign-in answer has no state")
        }
        guard let browserState, IDTokenCheck.constantTimeEquals(browserState, state) else {
            throw OIDCSignInFailure(.badRequest, "The sign-in was not started in this browser (state mismatch). Start again from the sign-in page.")
        }
        let taken: OIDCAuthorizationRecord?
        do { taken = try await services.accounts.takeOIDCAuthorization(stateHash: APITokens.hash(state)) } catch {
            services.logger.error("oidc sign-in state could not be read", metadata: ["error": "\(error)"])
            throw OIDCSignInFailure(.providerUnavailable, "The sign-in could not be completed. Try again later.")
        }
        guard let request = taken, request.provider == provider.name else {
            throw OIDCSignInFailure(.badRequest, "This sign-in has expired or was already used. Start again from the sign-in page.")
        }
        if let error {
            // The provider refused (the person pressed "deny", or the client is misconfigured).
            throw OIDCSignInFailure(.refused, "\(provider.name) did not sign you in (\(String(error.prefix(64))))")
        }
        guard let code, !code.isEmpty, code.utf8.count <= 4096 else { throw OIDCSignInFailure(.badRequest, "The sign-in answer has no code") }

        let (idToken, accessToken) = try await redeem(code: code, provider: provider, verifier: request.codeVerifier, origin: origin)
        let claims: OIDCTokenClaims
        do {
            claims = try await services.oidcKeys.verifySignature(idToken, issuer: provider.issuer)
            try IDTokenCheck.check(claims, issuer: provider.issuer, clientID: provider.clientID, nonce: request.nonce)
        } catch {
            services.logger.notice("oidc id token refused", metadata: ["oidc.provider": "\(provider.name)", "reason": "\(error.message)"])
            throw OIDCSignInFailure(.refused, "\(provider.name)'s ID token was refused: \(error.message)")
        }
        let groups = await groups(of: claims, provider: provider, accessToken: accessToken)
        return Verified(provider: provider, request: request, claims: claims, groups: groups)
    }

    /// At most this many groups are kept from a claim, each at most `maxGroupLength` long.
    static let maxGroups = 1000
    static let maxGroupLength = 255

    /// The groups claim from the ID token, else from the userinfo endpoint (OIDC Core §5.3:
    /// its `sub` must be the ID token's, or the answer is ignored). A token and userinfo
    /// without the claim mean "in no group".
    func groups(of claims: OIDCTokenClaims, provider: OIDCProviderConfig, accessToken: String?) async -> [String]? {
        guard !provider.groupsClaim.isEmpty else { return nil }
        if let names = claims.names(provider.groupsClaim) { return Self.bounded(names) }
        guard let accessToken, let endpoints = try? await services.oidcKeys.endpoints(issuer: provider.issuer),
              let userinfo = endpoints.userinfo else { return [] }
        let fetched: OutboundHTTPClient.Fetched
        do {
            fetched = try await services.oidcKeys.http.fetch(userinfo, maxBytes: 256 * 1024, headers: [("Authorization", "Bearer \(accessToken)")])
        } catch {
            services.logger.warning("oidc userinfo request failed", metadata: ["oidc.provider": "\(provider.name)", "error": "\(error)"])
            return nil
        }
        guard fetched.status == 200, let info = try? JSONSerialization.jsonObject(with: Data(fetched.body)) as? [String: Any],
              info["sub"] as? String == claims.subject else {
            services.logger.warning("oidc userinfo refused", metadata: ["oidc.provider": "\(provider.name)", "status": "\(fetched.status)"])
            return nil
        }
        if let list = info[provider.groupsClaim] as? [Any] { return Self.bounded(list.compactMap { $0 as? String }) }
        if let one = info[provider.groupsClaim] as? String { return Self.bounded([one]) }
        return []
    }

    static func bounded(_ names: [String]) -> [String] {
        Array(names.filter { !$0.isEmpty && $0.count <= maxGroupLength }.prefix(maxGroups))
    }

    /// The pending first sign-in of a verified identity no user has: the suggested username
    /// (free at this moment) and the e-mail claim when it looks like an address.
    public func signup(_ verified: Verified) async throws -> OIDCSignupRecord {
        let claims = verified.claims, provider = verified.provider
        let accounts = services.accounts
        let suggested = try await UsernameSuggestion.suggest(from: claims.strings, usernameClaim: provider.usernameClaim,
                                                             emailClaim: provider.emailClaim) { try await accounts.namespace(named: $0) != nil }
        let email = claims.strings[provider.emailClaim].flatMap { AccountAPI.isPlausibleEmail($0) ? $0 : nil }
        return OIDCSignupRecord(provider: provider.name, issuer: claims.issuer, subject: claims.subject, email: email, suggestedName: suggested,
                                groups: verified.groups)
    }

    struct TokenResponse: Decodable {
        let id_token: String?
        let access_token: String?
    }

    /// The token request (client_secret_post, with the PKCE verifier).
    private func redeem(code: String, provider: OIDCProviderConfig, verifier: String, origin: String)
        async throws(OIDCSignInFailure) -> (idToken: String, accessToken: String?) {
        let endpoints: OIDCEndpoints
        do { endpoints = try await services.oidcKeys.endpoints(issuer: provider.issuer) } catch {
            throw OIDCSignInFailure(.providerUnavailable, "\(provider.name) cannot be reached right now: \(error.message)")
        }
        guard let tokenURL = endpoints.token else {
            throw OIDCSignInFailure(.providerUnavailable, "\(provider.name)'s discovery document names no token endpoint")
        }
        var fields = [("grant_type", "authorization_code"), ("code", code),
                      ("redirect_uri", Self.callbackURL(origin: origin, provider: provider.name)),
                      ("client_id", provider.clientID), ("code_verifier", verifier)]
        if !provider.clientSecret.isEmpty { fields.append(("client_secret", provider.clientSecret)) }
        let fetched: OutboundHTTPClient.Fetched
        do {
            fetched = try await services.oidcKeys.http.postForm(tokenURL, fields: fields, maxBytes: 64 * 1024)
        } catch {
            services.logger.warning("oidc token request failed", metadata: ["oidc.provider": "\(provider.name)", "error": "\(error)"])
            throw OIDCSignInFailure(.providerUnavailable, "\(provider.name)'s token endpoint cannot be reached right now")
        }
        guard fetched.status == 200 else {
            // A code used twice, or one that expired, is refused here by the provider.
            services.logger.notice("oidc token request refused", metadata: ["oidc.provider": "\(provider.name)", "status": "\(fetched.status)"])
            throw OIDCSignInFailure(.refused, "\(provider.name) refused the sign-in code (HTTP \(fetched.status))")
        }
        guard let answer = try? JSONDecoder().decode(TokenResponse.self, from: Data(fetched.body)), let idToken = answer.id_token else {
            throw OIDCSignInFailure(.refused, "\(provider.name)'s token answer has no ID token (is the openid scope configured?)")
        }
        return (idToken, answer.access_token)
    }
}
