import Accounts
import Hummingbird
import Registry

/// `/confirminvite?code=<code>`: the link of a team invitation's mail and in-app notification
/// (Quay's accept page). It names who invited the signed-in user to which team; Accept and
/// Decline are made by `confirm-invite.js` through `PUT`/`DELETE /api/v1/teaminvite/{code}`.
/// Signed-out visitors sign in first and come back here.
struct ConfirmInvitePage {
    let server: PageServer

    struct Model {
        let code: String
        /// "Someone" when the inviter's account is gone.
        let inviter: String
        let organization: String
        let team: String
        let organizationURL: String
    }

    func register(_ router: Router<SlipwayRequestContext>) {
        server.get(router, "/confirminvite") { r in try await page(r) }
    }

    func page(_ r: PageRequest) async throws -> Page {
        let user = try r.requireUser()
        // Unknown, used, withdrawn and someone else's codes get the same answer.
        guard let code = r.query("code"), !code.isEmpty, code.count <= 256,
              let invite = try await server.services.accounts.pendingTeamInvite(code: code, userID: user.id) else {
            return Self.invalidPage
        }
        let model = Model(code: code, inviter: invite.inviter ?? "Someone", organization: invite.organization, team: invite.team,
                          organizationURL: OrganizationPage.url(invite.organization))
        return Page(title: "Team invitation", template: "confirm_invite", model: model, scripts: ["confirm-invite.js"])
    }

    static var invalidPage: Page {
        Page(title: "Invitation not found", template: "error",
             model: ["heading": "Invitation not found",
                     "message": "This invitation link is not valid for your account. It may have been accepted, declined or withdrawn already, "
                         + "or it was sent to a different user."],
             status: .notFound)
    }
}
