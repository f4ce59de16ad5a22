import Accounts
import Audit
import Foundation
import Hummingbird

/// Unlinking a single sign-on identity from one's account (Quay's `DetachExternal`,
/// `endpoints/api/user.py`). Linking happens in the browser flow (`SingleSignOnPages`).
///
/// Routes and the permission each needs (enforced by `APIRoutes`):
/// - POST /api/v1/detachexternal/{service_id}   signed in, user:admin → `{"success": true}`
///
/// `service_id` is the provider's configured name. Unlinking an identity that is not linked
/// changes nothing and answers the same (as Quay). Unlinking the only way a user signs in on
/// the web (no password, no other identity) is refused with 400. An unlink is a
/// `detach_external_login` usage-log entry and an identity notice to the user.
struct ExternalLoginAPI {
    let services: RegistryServices
    let notifier: IdentityNotifier

    func register(_ api: APIRoutes) {
        api.add(.post, "/api/v1/detachexternal/{service_id}", .user(scope: "user:admin")) { try await detach($0) }
    }

    func detach(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        let service = r.parameter("service_id")
        let removed: ExternalLogin?
        do {
            removed = try await services.accounts.unlinkExternalLogin(userID: user.id, service: service)
        } catch ExternalLoginConflict.lastWayIn {
            throw APIError.invalidRequest("Cannot detach \(service.prefix(64)): it is your only way to sign in. Set a password or link another provider first.")
        }
        if let removed {
            services.auditLog.record(AuditEvent(kind: .detachExternalLogin, performer: r.actor, namespace: (user.id, user.name), ip: r.ip,
                                                metadata: ["service": removed.service, "issuer": removed.issuer, "subject": removed.subject]))
            await notifier.externalLoginUnlinked(user, service: removed.service, issuer: removed.issuer, origin: r.origin)
        }
        return APIResponse.json(["success": true])
    }
}
