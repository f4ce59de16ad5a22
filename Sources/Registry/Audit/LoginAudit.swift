import Accounts
import Audit

/// The usage-log entries of sign-ins, in Quay's shapes, for every way in (web sign-in, the
/// registry token endpoint):
/// - `login_success` `{type, kind, useragent}` under the signed-in account's namespace;
/// - `login_failure` `{type, kind, useragent, username, message}`. When the attempted name is an
///   existing user, that user is the performer and namespace (as Quay does), so the account's
///   owner sees attempts on it in `/api/v1/user/logs`.
/// The password is never an input here, so it cannot reach a log.
public enum LoginChannel: String, Sendable {
    /// `POST /api/v1/signin` (Quay's `quayauth`).
    case web = "quayauth"
    /// `GET /v2/auth` (`podman login`).
    case registry = "v2auth"
    /// A web sign-in through an OpenID Connect provider (`auth.oidc`).
    case oidc = "oidc"
}

extension AuditEvent {
    /// Attacker-chosen strings are cut to this many characters before they are stored.
    static let loginFieldLimit = 255

    public static func loginSuccess(_ performer: Actor, via channel: LoginChannel, ip: String?, userAgent: String?) -> AuditEvent {
        var metadata = ["type": channel.rawValue, "kind": performer.kind]
        if let userAgent { metadata["useragent"] = String(userAgent.prefix(loginFieldLimit)) }
        return AuditEvent(kind: .loginSuccess, performer: performer, namespace: performer.id.map { ($0, performer.name) },
                          ip: ip, metadata: metadata)
    }

    /// A web sign-in through the provider `service` (its configured name).
    public static func ssoLoginSuccess(_ user: Namespace, service: String, ip: String?, userAgent: String?) -> AuditEvent {
        var event = loginSuccess(Actor(id: user.id, name: user.name, kind: "user"), via: .oidc, ip: ip, userAgent: userAgent)
        event.metadata["service"] = service
        return event
    }

    /// A provider identity linked to a user (`attach_external_login`, on first sign-in or from
    /// the account settings). The subject is the provider's id for the person, not a secret.
    public static func externalLoginLinked(_ user: Namespace, service: String, issuer: String, subject: String, ip: String?) -> AuditEvent {
        AuditEvent(kind: .attachExternalLogin, performer: Actor(id: user.id, name: user.name, kind: "user"), namespace: (user.id, user.name),
                   ip: ip, metadata: ["service": service, "issuer": String(issuer.prefix(loginFieldLimit)), "subject": String(subject.prefix(loginFieldLimit))])
    }

    /// `account` is the existing user the attempted name belongs to, if any.
    public static func loginFailure(username: String, account: Namespace?, via channel: LoginChannel, kind: String = "user",
                                    message: String, ip: String?, userAgent: String?) -> AuditEvent {
        var metadata = ["type": channel.rawValue, "kind": kind, "username": String(username.prefix(loginFieldLimit)), "message": message]
        if let userAgent { metadata["useragent"] = String(userAgent.prefix(loginFieldLimit)) }
        let performer = account.map { Actor(id: $0.id, name: $0.name, kind: "user") }
        return AuditEvent(kind: .loginFailure, performer: performer, namespace: account.map { ($0.id, $0.name) }, ip: ip, metadata: metadata)
    }
}
