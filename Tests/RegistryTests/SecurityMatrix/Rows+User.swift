import Foundation

/// Matrix rows for `UserAPI` (current user, sign-in/out, organizations).
enum MatrixRows {}

extension MatrixRows {
    static let user: [MatrixRow] = [
        MatrixRow(.get, "/api/v1/user/", expect(200, [.anonymous: 401])),
        // Sign-in takes credentials in the body; wrong ones are 403 for everyone.
        MatrixRow(.post, "/api/v1/signin", body: #"{"username":"admin","password":"wrong-password"}"#, expect(403)),
        MatrixRow(.post, "/api/v1/signout", expect(200)),
        MatrixRow(.post, "/api/v1/organization/", expect(201, [.anonymous: 401, .narrowToken: 403])) { _, who in
            ("/api/v1/organization/", #"{"name":"org-\#(who.rawValue.lowercased())"}"#)
        },
        MatrixRow(.get, "/api/v1/organization/{orgname}", path: "/api/v1/organization/acme", expect(200, [.anonymous: 401])),
    ]
}
