import Foundation

/// Matrix rows for `UserAPI` (current user, sign-in/out).
enum MatrixRows {}

extension MatrixRows {
    static let user: [MatrixRow] = [
        MatrixRow(.get, "/api/v1/user/", expect(200, [.anonymous: 401])),
        // Sign-in takes credentials in the body; wrong ones are 403 for everyone.
        MatrixRow(.post, "/api/v1/signin", body: #"{"username":"admin","password":"wrong-password"}"#, expect(403)),
        // Self sign-up is off unless auth.userCreation: refused for everyone.
        MatrixRow(.post, "/api/v1/user/", body: #"{"username":"newcomer","password":"long-enough-1"}"#, expect(403)),
        MatrixRow(.post, "/api/v1/signout", expect(200)),
    ]
}
