import Foundation

/// Matrix rows for `UserAPI` (current user, sign-in/out).
enum MatrixRows {}

extension MatrixRows {
    static let user: [MatrixRow] = [
        MatrixRow(.get, "/api/v1/user/", expect(200, [.anonymous: 401])),
        // Unlinking one's own sign-in (none is linked here: nothing changes, Quay's answer).
        MatrixRow(.post, "/api/v1/detachexternal/{service_id}", path: "/api/v1/detachexternal/idp", expect(200, [.anonymous: 401, .narrowToken: 403])),
        // Sign-in takes credentials in the body; wrong ones are 403 for everyone.
        MatrixRow(.post, "/api/v1/signin", body: #"{"username":"admin","password":"wrong-password"}"#, expect(403)),
        // Self sign-up is off unless auth.userCreation: refused for everyone.
        MatrixRow(.post, "/api/v1/user/", body: #"{"username":"newcomer","password":"long-enough-1"}"#, expect(403)),
        MatrixRow(.post, "/api/v1/signout", expect(200)),
    ]
}
