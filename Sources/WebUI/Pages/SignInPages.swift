import Hummingbird
import Registry

/// `/` and `/signin`. Signing in and out happen in `signin.js` / `common.js` through
/// `POST /api/v1/signin` and `/api/v1/signout`, which set and clear the session cookie.
struct SignInPages {
    let server: PageServer

    func register(_ router: Router<SlipwayRequestContext>) {
        server.get(router, "/") { r in
            throw PageExit.redirect(r.viewer.user == nil ? "/explore" : "/repository/")
        }
        server.get(router, "/signin") { r in
            let redirect = PageServer.safeReturnPath(r.query("redirect")) ?? "/repository/"
            if r.viewer.user != nil { throw PageExit.redirect(redirect) }
            return Page(title: "Sign in", template: "signin", model: ["redirect": redirect], scripts: ["signin.js"])
        }
    }
}
