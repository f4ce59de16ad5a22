import Hummingbird
import Registry

/// `/` and `/signin`. Signing in and out happen in `signin.js` / `common.js` through
/// `POST /api/v1/signin` and `/api/v1/signout`, which set and clear the session cookie; the
/// "Sign in with NAME" buttons lead to `SingleSignOnPages`.
struct SignInPages {
    let server: PageServer

    struct Provider {
        let name: String
        let url: String
    }

    /// `internalLogin` false (`auth.internalLogin`) folds the password form away: only
    /// superusers may still use it.
    struct Model {
        let redirect: String
        let providers: [Provider]
        let hasProviders: Bool
        let internalLogin: Bool
        /// `auth.userCreation`: the "Create account" link.
        let userCreation: Bool
    }

    func register(_ router: Router<SlipwayRequestContext>) {
        server.get(router, "/") { r in
            throw PageExit.redirect(r.viewer.user == nil ? "/explore" : "/repository/")
        }
        server.get(router, "/signin") { r in
            let redirect = PageServer.safeReturnPath(r.query("redirect")) ?? "/repository/"
            if r.viewer.user != nil { throw PageExit.redirect(redirect) }
            let providers = server.services.config.auth.oidc.map {
                Provider(name: $0.name, url: "/signin/oidc/\($0.name)?redirect=" + PageServer.queryEscape(redirect))
            }
            let model = Model(redirect: redirect, providers: providers, hasProviders: !providers.isEmpty,
                              internalLogin: server.services.config.auth.internalLogin,
                              userCreation: server.services.config.auth.userCreation && server.services.config.auth.internalLogin)
            return Page(title: "Sign in", template: "signin", model: model, scripts: ["signin.js"])
        }
    }
}
