import Accounts
import Hummingbird
import Registry

/// Self sign-up's pages (issue #17 item 2). The account itself is created by `signup.js`
/// through `POST /api/v1/user/`, so the API's rules are the only ones.
///
/// Routes and the permission each needs:
/// - GET /signup          anonymous, when `auth.userCreation` is on (else 404)
/// - GET /confirm?code=   anonymous: the mailed code is the credential; it confirms the address
///                        it was sent to, once (Quay's confirmation link)
struct SignUpPages {
    let server: PageServer

    struct Model {
        let mailVerification: Bool
    }

    func register(_ router: Router<SlipwayRequestContext>) {
        server.get(router, "/signup") { r in
            let auth = server.services.config.auth
            guard auth.userCreation, auth.internalLogin else { throw PageExit.notFound }
            if r.viewer.user != nil { throw PageExit.redirect("/repository/") }
            return Page(title: "Create account", template: "signup", model: Model(mailVerification: auth.mailVerification), scripts: ["signup.js"])
        }
        server.get(router, "/confirm") { r in
            guard let code = r.query("code"), !code.isEmpty, code.count <= 256,
                  let user = try await server.services.accounts.verifyEmail(codeHash: APITokens.hash(code)) else {
                return Page(title: "Link not valid", template: "error",
                            model: ["heading": "This link is not valid",
                                    "message": "It was used already, it expired (links work for 48 hours), or the address changed since it was sent."],
                            status: .badRequest)
            }
            server.services.logger.info("e-mail address confirmed", metadata: ["user": "\(user.name)"])
            return Page(title: "Address confirmed", template: "error",
                        model: ["heading": "E-mail address confirmed",
                                "message": "Thank you, \(user.name): your address is confirmed and you can push images now."])
        }
    }
}
