import Accounts
import Audit
import Foundation
import Hummingbird
import Logging
import SlipwayCore

/// Keyless robots: `GET /oauth2/federation/robot/token` with HTTP Basic
/// `<robot name>:<OIDC token>` answers `{"token": ...}`, a robot token that works on `/v2` until
/// `auth.robotFederationTokenSeconds` pass (quay-reference: keyless authentication).
///
/// Permission: anonymous route; the OIDC token is the credential. It must be signed by a key of
/// the issuer's JWKS, unexpired, and its `iss` and `sub` must equal an entry of the robot's
/// federation exactly, with that entry's audience and claim conditions met. A robot that does
/// not exist, is disabled (or its owner is) or has no federation gets one and the same answer,
/// so the route does not reveal which robots exist.
///
/// The token is never logged or stored; refusals are `login_failure` entries in the robot
/// owner's usage logs, exchanges `federated_robot_token_exchange`. The first exchange under a
/// federation entry is also an identity notice to the owner; later ones are only log entries
/// (CI exchanges at every run).
public struct RobotFederationExchange: Sendable {
    let services: RegistryServices
    let notifier: IdentityNotifier

    public static let path = "/oauth2/federation/robot/token"
    /// Clock difference tolerated between the issuer and Slipway for `exp` and `nbf`.
    static let clockSkew: TimeInterval = 5
    static let noFederation = "The robot does not exist, is disabled, or has no federation configured"

    public init(services: RegistryServices, notifier: IdentityNotifier) {
        self.services = services
        self.notifier = notifier
    }

    public func register(on router: Router<SlipwayRequestContext>) {
        router.get(RouterPath(Self.path)) { request, context in
            await self.handle(request, context: context)
        }
    }

    func handle(_ request: Request, context: SlipwayRequestContext) async -> Response {
        let origin = RequestOrigin(request: request, config: services.config).baseURL
        let ip = context.clientIP(request)
        guard let (robotName, token) = Self.basicCredentials(request) else {
            return APIError(.unauthorized, "invalid_token", "Send the robot name and an OIDC token as HTTP Basic credentials")
                .response(baseURL: origin)
        }
        do {
            let issued = try await exchange(robotName: robotName, oidcToken: token, ip: ip, origin: origin)
            return APIResponse.json(["token": issued])
        } catch let refusal as APIError {
            context.logger.notice("robot federation exchange refused",
                                  metadata: ["robot": "\(robotName.prefix(255))", "reason": "\(refusal.detail)"])
            await recordRefusal(robotName: robotName, message: refusal.detail, ip: ip, userAgent: request.headers[.userAgent])
            return refusal.response(baseURL: origin)
        } catch {
            context.logger.error("robot federation exchange failed", metadata: ["robot": "\(robotName.prefix(255))", "error": "\(error)"])
            return APIError.internalError.response(baseURL: origin)
        }
    }

    /// Checks `oidcToken` against the robot's federation and issues a short-lived robot token.
    func exchange(robotName: String, oidcToken: String, ip: String?, origin: String) async throws -> String {
        func refuse(_ message: String) -> APIError { APIError(.unauthorized, "invalid_token", message) }
        if services.config.auth.robotsDisallow { throw refuse(RobotAPI.disabledMessage) }
        guard robotName.contains("+"), robotName.utf8.count <= 600, oidcToken.utf8.count <= 16 * 1024,
              let robot = try await services.accounts.robotForFederation(named: robotName) else { throw refuse(Self.noFederation) }
        let entries = try await services.accounts.robotFederation(robotID: robot.id)
        guard !entries.isEmpty else { throw refuse(Self.noFederation) }

        let claimed: OIDCTokenClaims
        do { claimed = try OIDCKeySets.unverifiedClaims(oidcToken) } catch { throw refuse(error.message) }
        let candidates = entries.filter { $0.issuer == claimed.issuer && $0.subject == claimed.subject }
        // Only issuers an admin configured for this robot are ever fetched.
        guard !candidates.isEmpty else { throw refuse("The token's issuer and subject match no federation entry of the robot") }
        let claims: OIDCTokenClaims
        do { claims = try await services.oidcKeys.verifySignature(oidcToken, issuer: claimed.issuer) } catch { throw refuse(error.message) }

        let now = Date()
        guard let expiresAt = claims.expiresAt else { throw refuse("The token has no expiry (exp)") }
        guard expiresAt.addingTimeInterval(Self.clockSkew) > now else { throw refuse("The token has expired") }
        if let notBefore = claims.notBefore, notBefore > now.addingTimeInterval(Self.clockSkew) {
            throw refuse("The token is not valid yet (nbf)")
        }
        guard let entry = candidates.first(where: { Self.admits($0, claims) }) else {
            throw refuse("The token does not meet the federation entry's audience or claim conditions")
        }

        let issued = RobotTokens.generate()
        let lifetime = Int64(services.config.auth.robotFederationTokenSeconds) * 1000
        try await services.accounts.createFederatedRobotToken(robotID: robot.id, tokenHash: APITokens.hash(issued), issuer: entry.issuer,
                                                              subject: entry.subject, expiresAt: Clock.nowMillis() + lifetime)
        let owner = Self.ownerName(robotName)
        services.auditLog.record(AuditEvent(kind: .federatedRobotTokenExchange,
                                            performer: .init(id: robot.id, name: robot.name, kind: "robot"),
                                            namespace: (robot.ownerID, owner), ip: ip,
                                            metadata: ["robot": robot.name, "issuer": entry.issuer, "subject": entry.subject]))
        if (try? await services.accounts.claimFirstFederatedExchange(robotID: robot.id, issuer: entry.issuer, subject: entry.subject)) == true {
            await notifier.firstFederatedExchange(robot, issuer: entry.issuer, subject: entry.subject, origin: origin)
        }
        return issued
    }

    /// Whether the (signature-checked) claims meet the entry's audience and claim conditions.
    static func admits(_ entry: RobotFederationEntry, _ claims: OIDCTokenClaims) -> Bool {
        if let audience = entry.audience, !claims.audiences.contains(audience) { return false }
        return entry.conditions.allSatisfy { claims.strings[$0.key] == $0.value }
    }

    /// Only a robot that exists gets an entry, in its owner's logs.
    private func recordRefusal(robotName: String, message: String, ip: String?, userAgent: String?) async {
        guard robotName.contains("+"), robotName.utf8.count <= 600,
              let robot = try? await services.accounts.robotForLogin(named: robotName)?.0 else { return }
        var metadata = ["type": "robot_federation", "kind": "robot", "username": robot.name, "message": message]
        if let userAgent { metadata["useragent"] = String(userAgent.prefix(255)) }
        services.auditLog.record(AuditEvent(kind: .loginFailure, performer: nil, namespace: (robot.ownerID, Self.ownerName(robot.name)),
                                            ip: ip, metadata: metadata))
    }

    static func ownerName(_ robotName: String) -> String {
        String(robotName.prefix { $0 != "+" })
    }

    /// `Authorization: Basic base64(name:token)`.
    static func basicCredentials(_ request: Request) -> (String, String)? {
        guard let header = request.headers[.authorization], header.count > 6, header.prefix(6).lowercased() == "basic ",
              let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
              let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":") else { return nil }
        let token = String(text[text.index(after: colon)...])
        guard !token.isEmpty else { return nil }
        return (String(text[..<colon]), token)
    }
}
