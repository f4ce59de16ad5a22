import Accounts
import Audit
import Foundation
import Hummingbird
import Mail
import SlipwayCore

/// Self sign-up (issue #17 item 2; Quay's `POST /api/v1/user/` create-user endpoint).
///
/// Routes and the permission each needs (enforced by `APIRoutes`):
/// - POST /api/v1/user/   anonymous, when `auth.userCreation` is on (else 403) —
///   `{username, password, email}` → the new account is signed in (session cookie) and
///   `{awaiting_verification, csrf_token}`; with `auth.mailVerification` a confirmation link is
///   mailed and the account may not push until it is opened (`/confirm?code=`).
///
/// Usernames follow Quay's rules, passwords `Names.passwordProblem`; each client address
/// creates at most `auth.userCreationPerHourPerIP` accounts an hour (429). A refused sign-up
/// leaves nothing behind. The password never reaches a log.
struct SignUpAPI {
    let services: RegistryServices

    func register(_ api: APIRoutes) {
        api.add(.post, "/api/v1/user/", .anonymous) { try await signUp($0) }
    }

    struct CreateAccount: Decodable {
        let username: String
        let password: String
        let email: String?
    }

    struct Created: Encodable {
        let awaiting_verification: Bool
        let csrf_token: String
    }

    static let disabledMessage = "Creating accounts is disabled on this registry: ask an administrator for an account"

    func signUp(_ r: APIRequest) async throws -> Response {
        let auth = services.config.auth
        guard auth.userCreation, auth.internalLogin else { throw APIError(.forbidden, "invalid_request", Self.disabledMessage) }
        let input = try await r.decode(CreateAccount.self)
        let name = input.username.trimmingCharacters(in: .whitespaces)
        guard Names.isValidNamespace(name) else {
            throw APIError.invalidRequest("Invalid username: use 2-255 characters of a-z, 0-9 and single '.', '_' or '-' between them")
        }
        if let problem = Names.passwordProblem(input.password) { throw APIError.invalidRequest("Invalid password: \(problem)") }
        let email = input.email?.trimmingCharacters(in: .whitespaces).nilIfEmpty
        if auth.mailVerification, email == nil { throw APIError.invalidRequest("An e-mail address is required: a confirmation link is sent to it") }
        if let email {
            guard AccountAPI.isPlausibleEmail(email) else { throw APIError.invalidRequest("Invalid e-mail address") }
            if try await services.accounts.userEmailInUse(email, exceptUserID: 0) { throw APIError.invalidRequest("E-mail address already used") }
        }
        var verification: (codeHash: String, mail: OutgoingMail)?
        if auth.mailVerification, let email {
            let code = PKCE.randomValue()
            let link = "\(r.origin)/confirm?code=\(code)"
            let body = """
                Someone (hopefully you) created the account \(name) on \(r.origin) with this address.

                Confirm the address to push images: \(link)

                The link works for 48 hours. If it was not you, ignore this mail: the account cannot push.
                """
            verification = (APITokens.hash(code), OutgoingMail(recipient: email, subject: "Confirm your e-mail address for \(name)", body: body,
                                                               kind: .emailVerification, reference: name))
        }
        let created: Namespace
        do {
            created = try await services.accounts.signUp(
                SelfSignUp(name: name, passwordHash: try await services.hasher.hash(input.password), email: email, ip: r.ip ?? "unknown",
                           limitPerHour: auth.userCreationPerHourPerIP, verification: verification),
                secretBox: services.secretBox)
        } catch SelfSignUpRefusal.rateLimited {
            throw APIError(.tooManyRequests, "too_many_requests", "Too many accounts were created from your address: try again in an hour")
        } catch let e as DomainError where e.code == .alreadyExists {
            throw APIError.invalidRequest("The username \(name) is already taken")
        }
        let actor = AuditEvent.Actor(id: created.id, name: created.name, kind: "user")
        services.auditLog.record(AuditEvent(kind: .userCreate, performer: actor, namespace: (created.id, created.name), ip: r.ip,
                                            metadata: ["username": created.name, "self_signup": "true"]))
        r.context.logger.info("user signed up", metadata: ["user": "\(created.name)", "awaiting_verification": "\(verification != nil)"])
        let session = try await WebSession.start(for: created, accounts: services.accounts, secure: r.origin.hasPrefix("https://"))
        return APIResponse.json(Created(awaiting_verification: verification != nil, csrf_token: session.csrfToken),
                                headers: [.setCookie: session.setCookie])
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }
}
