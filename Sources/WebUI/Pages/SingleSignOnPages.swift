import Accounts
import Audit
import Foundation
import HTTPTypes
import Hummingbird
import Registry
import SlipwayCore

/// Web sign-in through the `auth.oidc` providers (issue #17 item 1). The protocol is
/// `OIDCSignIn`'s; these routes move the browser and keep two short-lived cookies.
///
/// Routes and the permission each needs:
/// - GET  /signin/oidc/:provider                 anonymous: starts a sign-in (303 to the provider)
/// - GET  /signin/oidc/:provider/link?csrf_token signed-in session + its CSRF token: starts linking
///                                               the provider to the signed-in user
/// - GET  /oauth2/:provider/callback             anonymous; the `state` query must equal the
///                                               browser's state cookie and a stored, unused request
/// - GET  /signin/confirm-username               the first-sign-in cookie: the username form
/// - POST /signin/confirm-username               the first-sign-in cookie: creates the user
///
/// At every sign-in through a provider with `groupsClaim`, the person's synced teams follow
/// the groups it names (`OIDCTeamSync`). A newly linked identity (first sign-in, or a link from
/// the account settings) is an identity notice to the user.
///
/// Refusals are HTML error pages (400 bad or replayed request, 403 refused token or identity,
/// 502 provider unreachable) and `login_failure` usage-log entries; no code, token or secret is
/// shown or logged.
struct SingleSignOnPages {
    let server: PageServer
    let notifier: IdentityNotifier

    /// The first-sign-in cookie: holds the token of the pending sign-up row.
    static let signupCookie = "slipway_oidc_signup"
    static let confirmPath = "/signin/confirm-username"

    var flow: OIDCSignIn { OIDCSignIn(services: server.services) }
    var services: RegistryServices { server.services }

    func register(_ router: Router<SlipwayRequestContext>) {
        router.get("/signin/oidc/:provider") { request, context in
            await start(request, context, linking: false)
        }
        router.get("/signin/oidc/:provider/link") { request, context in
            await start(request, context, linking: true)
        }
        router.get("/oauth2/:provider/callback") { request, context in
            await callback(request, context)
        }
        router.get(RouterPath(Self.confirmPath)) { request, context in
            await confirmForm(request, context)
        }
        router.post(RouterPath(Self.confirmPath)) { request, context in
            await confirm(request, context)
        }
    }

    // MARK: Start

    func start(_ request: Request, _ context: SlipwayRequestContext, linking: Bool) async -> Response {
        let viewer = (try? await Viewer.resolve(request, accounts: services.accounts)) ?? .anonymous
        guard let provider = flow.provider(named: context.parameters.get("provider") ?? "") else {
            return server.render(PageServer.notFoundPage, request: request, viewer: viewer)
        }
        let query = request.uri.queryParameters
        var returnPath = PageServer.safeReturnPath(query["redirect"].map(String.init)) ?? "/repository/"
        var linkUserID: Int64?
        if linking {
            guard let user = viewer.user else { return PageServer.redirect("/signin?redirect=" + PageServer.queryEscape(request.uri.description)) }
            guard let sent = query["csrf_token"].map(String.init), !viewer.csrfToken.isEmpty, sent == viewer.csrfToken else {
                return failurePage(OIDCSignInFailure(.badRequest, "The link request is missing its CSRF token. Use the button on the account settings page."),
                                   request: request, viewer: viewer)
            }
            linkUserID = user.id
            returnPath = UserPage.url(user.name, tab: "settings")
        } else if viewer.user != nil {
            return PageServer.redirect(returnPath)
        }
        let origin = RequestOrigin(request: request, config: services.config).baseURL
        do {
            let started = try await flow.start(provider, origin: origin, returnPath: returnPath, linkUserID: linkUserID)
            var response = PageServer.redirect(started.authorizationURL)
            response.headers.append(HTTPField(name: .setCookie, value: Self.cookie(OIDCSignIn.stateCookie, started.state, path: "/oauth2/",
                                                                                   maxAge: Int(OIDCSignIn.requestLifetimeSeconds), origin: origin)))
            return response
        } catch {
            return failurePage(error, request: request, viewer: viewer)
        }
    }

    // MARK: Callback

    func callback(_ request: Request, _ context: SlipwayRequestContext) async -> Response {
        let viewer = (try? await Viewer.resolve(request, accounts: services.accounts)) ?? .anonymous
        let query = request.uri.queryParameters
        let origin = RequestOrigin(request: request, config: services.config).baseURL
        let providerName = context.parameters.get("provider") ?? ""
        let ip = context.clientIP(request), userAgent = request.headers[.userAgent]
        var response: Response
        do {
            let verified = try await flow.finish(providerName: providerName, code: query["code"].map(String.init), state: query["state"].map(String.init),
                                                 browserState: request.cookies[OIDCSignIn.stateCookie]?.value,
                                                 error: query["error"].map(String.init), origin: origin)
            if let linkUserID = verified.request.linkUserID {
                response = try await link(verified, userID: linkUserID, viewer: viewer, request: request, ip: ip, origin: origin)
            } else {
                response = try await signIn(verified, origin: origin, ip: ip, userAgent: userAgent)
            }
        } catch let failure as OIDCSignInFailure {
            context.logger.notice("oidc sign-in refused", metadata: ["oidc.provider": "\(providerName.prefix(32))", "reason": "\(failure.message)"])
            services.auditLog.record(.loginFailure(username: "", account: nil, via: .oidc, message: failure.message, ip: ip, userAgent: userAgent))
            response = failurePage(failure, request: request, viewer: viewer)
        } catch {
            context.logger.error("oidc sign-in failed", metadata: ["oidc.provider": "\(providerName.prefix(32))", "error": "\(error)"])
            response = server.render(PageServer.errorPage, request: request, viewer: viewer)
        }
        // The state is spent either way.
        response.headers.append(HTTPField(name: .setCookie, value: Self.cookie(OIDCSignIn.stateCookie, "", path: "/oauth2/", maxAge: 0, origin: origin)))
        return response
    }

    /// A linked identity signs its user in; an unknown one goes to the username confirmation.
    func signIn(_ verified: OIDCSignIn.Verified, origin: String, ip: String?, userAgent: String?) async throws -> Response {
        let claims = verified.claims, provider = verified.provider
        if let user = try await services.accounts.user(linkedTo: claims.issuer, subject: claims.subject) {
            let session = try await WebSession.start(for: user, accounts: services.accounts, secure: origin.hasPrefix("https://"))
            services.auditLog.record(.ssoLoginSuccess(user, service: provider.name, ip: ip, userAgent: userAgent))
            await OIDCTeamSync(services: services).apply(user, provider: provider, groups: verified.groups, ip: ip)
            var response = PageServer.redirect(verified.request.returnPath)
            response.headers.append(HTTPField(name: .setCookie, value: session.setCookie))
            return response
        }
        if try await services.accounts.isExternalLoginLinked(issuer: claims.issuer, subject: claims.subject) {
            throw OIDCSignInFailure(.refused, "The account this \(provider.name) identity is linked to is disabled")
        }
        let token = PKCE.randomValue()
        try await services.accounts.saveOIDCSignup(tokenHash: APITokens.hash(token), try await flow.signup(verified),
                                                   expiresAt: Clock.nowMillis() + OIDCSignIn.requestLifetimeSeconds * 1000)
        var response = PageServer.redirect(Self.confirmPath)
        response.headers.append(HTTPField(name: .setCookie, value: Self.cookie(Self.signupCookie, token, path: "/signin/",
                                                                               maxAge: Int(OIDCSignIn.requestLifetimeSeconds), origin: origin)))
        return response
    }

    /// Links the identity to the user who started the link, in this same browser session.
    func link(_ verified: OIDCSignIn.Verified, userID: Int64, viewer: Viewer, request: Request, ip: String?, origin: String) async throws -> Response {
        guard let user = viewer.user, user.id == userID else {
            throw OIDCSignInFailure(.badRequest, "The link was started by another session. Sign in and start again from the account settings page.")
        }
        let claims = verified.claims
        do {
            try await services.accounts.linkExternalLogin(userID: user.id, service: verified.provider.name, issuer: claims.issuer, subject: claims.subject)
        } catch ExternalLoginConflict.linkedToAnotherUser {
            throw OIDCSignInFailure(.refused, "This \(verified.provider.name) identity is already linked to another user")
        } catch ExternalLoginConflict.userAlreadyLinked {
            throw OIDCSignInFailure(.refused, "Your account is already linked to another \(verified.provider.name) identity")
        }
        services.auditLog.record(.externalLoginLinked(user, service: verified.provider.name, issuer: claims.issuer, subject: claims.subject, ip: ip))
        await notifier.externalLoginLinked(user, service: verified.provider.name, issuer: claims.issuer, origin: origin)
        return PageServer.redirect(verified.request.returnPath)
    }

    // MARK: First sign-in: confirm the username

    struct ConfirmModel {
        let provider: String
        let username: String
        let error: String?
    }

    func confirmForm(_ request: Request, _ context: SlipwayRequestContext) async -> Response {
        do {
            guard let signup = try await pendingSignup(request) else { return PageServer.redirect("/signin") }
            return server.render(Self.confirmPage(ConfirmModel(provider: signup.provider, username: signup.suggestedName, error: nil)),
                                 request: request, viewer: .anonymous)
        } catch {
            context.logger.error("oidc sign-up page failed", metadata: ["error": "\(error)"])
            return server.render(PageServer.errorPage, request: request, viewer: .anonymous)
        }
    }

    func confirm(_ request: Request, _ context: SlipwayRequestContext) async -> Response {
        let origin = RequestOrigin(request: request, config: services.config).baseURL
        let ip = context.clientIP(request), userAgent = request.headers[.userAgent]
        do {
            guard let token = request.cookies[Self.signupCookie]?.value, !token.isEmpty,
                  let signup = try await services.accounts.oidcSignup(tokenHash: APITokens.hash(token)) else {
                return failurePage(OIDCSignInFailure(.badRequest, "This sign-in has expired. Start again from the sign-in page."),
                                   request: request, viewer: .anonymous)
            }
            let form = try await Self.form(request)
            let name = (form["username"] ?? "").trimmingCharacters(in: .whitespaces)
            func again(_ message: String) -> Response {
                server.render(Self.confirmPage(ConfirmModel(provider: signup.provider, username: name, error: message), status: .badRequest),
                              request: request, viewer: .anonymous)
            }
            guard Names.isValidNamespace(name) else {
                return again("Invalid username: use 2-255 characters of a-z, 0-9 and single '.', '_' or '-' between them")
            }
            var email = signup.email
            if let address = email, try await services.accounts.userEmailInUse(address, exceptUserID: 0) { email = nil }
            let created: (Namespace, OIDCSignupRecord)?
            do {
                created = try await services.accounts.createUser(fromSignup: APITokens.hash(token), name: name, email: email,
                                                                 superuser: services.config.auth.superUsers.contains(name))
            } catch let e as DomainError where e.code == .alreadyExists {
                return again("The username \(name) is taken: choose another one")
            } catch ExternalLoginConflict.linkedToAnotherUser {
                // Another browser finished this identity's first sign-in meanwhile.
                return failurePage(OIDCSignInFailure(.refused, "This identity is already linked to another user. Sign in again."),
                                   request: request, viewer: .anonymous)
            }
            guard let (user, record) = created else {
                return failurePage(OIDCSignInFailure(.badRequest, "This sign-in has expired. Start again from the sign-in page."),
                                   request: request, viewer: .anonymous)
            }
            let actor = AuditEvent.Actor(id: user.id, name: user.name, kind: "user")
            services.auditLog.record(AuditEvent(kind: .userCreate, performer: actor, namespace: (user.id, user.name), ip: ip,
                                                metadata: ["username": user.name, "service": record.provider]))
            services.auditLog.record(.externalLoginLinked(user, service: record.provider, issuer: record.issuer, subject: record.subject, ip: ip))
            services.auditLog.record(.ssoLoginSuccess(user, service: record.provider, ip: ip, userAgent: userAgent))
            context.logger.info("user signed up through single sign-on", metadata: ["user": "\(user.name)", "oidc.provider": "\(record.provider)"])
            if let provider = flow.provider(named: record.provider) {
                await OIDCTeamSync(services: services).apply(user, provider: provider, groups: record.groups, ip: ip)
            }
            await notifier.externalLoginLinked(user, service: record.provider, issuer: record.issuer, origin: origin)
            let session = try await WebSession.start(for: user, accounts: services.accounts, secure: origin.hasPrefix("https://"))
            // The repository list, with the offer of an app token for podman/docker login.
            var response = PageServer.redirect("/repository/?welcome=sso")
            response.headers.append(HTTPField(name: .setCookie, value: session.setCookie))
            response.headers.append(HTTPField(name: .setCookie, value: Self.cookie(Self.signupCookie, "", path: "/signin/", maxAge: 0, origin: origin)))
            return response
        } catch {
            context.logger.error("oidc sign-up failed", metadata: ["error": "\(error)"])
            return server.render(PageServer.errorPage, request: request, viewer: .anonymous)
        }
    }

    func pendingSignup(_ request: Request) async throws -> OIDCSignupRecord? {
        guard let token = request.cookies[Self.signupCookie]?.value, !token.isEmpty else { return nil }
        return try await services.accounts.oidcSignup(tokenHash: APITokens.hash(token))
    }

    static func confirmPage(_ model: ConfirmModel, status: HTTPResponse.Status = .ok) -> Page {
        Page(title: "Confirm username", template: "confirm_username", model: model, status: status)
    }

    // MARK: Helpers

    func failurePage(_ failure: OIDCSignInFailure, request: Request, viewer: Viewer) -> Response {
        let status: HTTPResponse.Status = switch failure.kind {
        case .badRequest: .badRequest
        case .refused: .forbidden
        case .providerUnavailable: .badGateway
        }
        return server.render(Page(title: "Sign-in failed", template: "error", model: ["heading": "Sign-in failed", "message": failure.message],
                                  status: status), request: request, viewer: viewer)
    }

    static func cookie(_ name: String, _ value: String, path: String, maxAge: Int, origin: String) -> String {
        Cookie(name: name, value: value, maxAge: maxAge, path: path, secure: origin.hasPrefix("https://"), httpOnly: true, sameSite: .lax).description
    }

    /// An `application/x-www-form-urlencoded` body (at most 16 KiB).
    static func form(_ request: Request) async throws -> [String: String] {
        var body = try await request.body.collect(upTo: 16 * 1024)
        let text = body.readString(length: body.readableBytes) ?? ""
        var out: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            out[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return out
    }
}
