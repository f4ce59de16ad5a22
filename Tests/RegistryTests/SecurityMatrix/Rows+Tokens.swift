import Accounts
import Foundation
import NIOCore
import Registry
import SlipwayTestSupport
import Testing

/// Matrix rows for `AccountAPI` (account settings and deletion, public profiles) and `TokenAPI`
/// (app tokens, OAuth applications and their tokens, repository delegate tokens). Targets that
/// a row reads or consumes are created through the API by their rightful owner (the `admin`
/// user for app tokens, acme's admin for applications and for tokens on `acme/app`), fresh for
/// each identity.
extension MatrixRows {
    static let tokens: [MatrixRow] = [
        // Account settings and deletion.
        MatrixRow(.put, "/api/v1/user/", body: #"{"tag_expiration_s":604800}"#, expect(200, [.anonymous: 401, .narrowToken: 403])),
        // Each caller is first made the only admin of an organization, so the deletion passes the
        // permission check and is then refused (400) instead of tearing down the fixture; the
        // successful deletion is covered by AccountAPITests.
        MatrixRow(.delete, "/api/v1/user/", expect(400, [.anonymous: 401, .narrowToken: 403])) { fx, who in
            if let user = fx.users[who] {
                let name = "keep-\(who.rawValue.lowercased())"
                if try await fx.registry.services.accounts.namespace(named: name) == nil {
                    try await fx.registry.services.accounts.createOrganization(name: name, email: nil, creatorID: user.id)
                }
            }
            return ("/api/v1/user/", nil)
        },
        MatrixRow(.get, "/api/v1/users/{username}", path: "/api/v1/users/member", expect(200)),

        // App-specific tokens: everyone manages only their own; admin's token is not found for others.
        MatrixRow(.get, "/api/v1/user/apptoken", expect(200, [.anonymous: 401, .narrowToken: 403])),
        MatrixRow(.post, "/api/v1/user/apptoken", body: #"{"title":"matrix"}"#, expect(200, [.anonymous: 401, .narrowToken: 403])),
        MatrixRow(.get, "/api/v1/user/apptoken/{token_uuid}", expect(404, [.anonymous: 401, .owner: 200, .narrowToken: 403])) { fx, _ in
            ("/api/v1/user/apptoken/\(try await TokenRowSetup.ownerAppToken(fx))", nil)
        },
        MatrixRow(.delete, "/api/v1/user/apptoken/{token_uuid}", expect(404, [.anonymous: 401, .owner: 204, .narrowToken: 403])) { fx, _ in
            ("/api/v1/user/apptoken/\(try await TokenRowSetup.ownerAppToken(fx))", nil)
        },

        // OAuth applications of acme: its admin only.
        MatrixRow(.get, "/api/v1/organization/{orgname}/applications", path: "/api/v1/organization/acme/applications",
                  expect(403, [.anonymous: 401, .orgAdmin: 200])),
        MatrixRow(.post, "/api/v1/organization/{orgname}/applications", path: "/api/v1/organization/acme/applications",
                  body: #"{"name":"matrix app"}"#, expect(403, [.anonymous: 401, .orgAdmin: 200])),
        MatrixRow(.get, "/api/v1/organization/{orgname}/applications/{client_id}", expect(403, [.anonymous: 401, .orgAdmin: 200])) { fx, _ in
            ("/api/v1/organization/acme/applications/\(try await TokenRowSetup.acmeApplication(fx))", nil)
        },
        MatrixRow(.put, "/api/v1/organization/{orgname}/applications/{client_id}", expect(403, [.anonymous: 401, .orgAdmin: 200])) { fx, _ in
            ("/api/v1/organization/acme/applications/\(try await TokenRowSetup.acmeApplication(fx))",
             #"{"name":"renamed","redirect_uri":"https://ci.acme.test/cb","application_uri":"https://ci.acme.test"}"#)
        },
        MatrixRow(.delete, "/api/v1/organization/{orgname}/applications/{client_id}", expect(403, [.anonymous: 401, .orgAdmin: 204])) { fx, _ in
            ("/api/v1/organization/acme/applications/\(try await TokenRowSetup.acmeApplication(fx))", nil)
        },
        MatrixRow(.post, "/api/v1/organization/{orgname}/applications/{client_id}/tokens", expect(403, [.anonymous: 401, .orgAdmin: 200])) { fx, _ in
            ("/api/v1/organization/acme/applications/\(try await TokenRowSetup.acmeApplication(fx))/tokens", #"{"scope":"repo:read"}"#)
        },
        MatrixRow(.delete, "/api/v1/organization/{orgname}/applications/{client_id}/tokens/{token_uuid}",
                  expect(403, [.anonymous: 401, .orgAdmin: 204])) { fx, _ in
            let app = try await TokenRowSetup.acmeApplication(fx)
            let token = try await TokenRowSetup.create(fx, .orgAdmin, "/api/v1/organization/acme/applications/\(app)/tokens", #"{"scope":"repo:read"}"#)
            return ("/api/v1/organization/acme/applications/\(app)/tokens/\(try #require(token["uuid"] as? String))", nil)
        },

        // Delegate tokens of the private acme/app: its admins only; the readers team's member sees
        // the repository (403), everyone else does not (404).
        MatrixRow(.get, "/api/v1/repository/{repository}/tokens/", path: "/api/v1/repository/acme/app/tokens/",
                  expect(404, [.anonymous: 401, .orgAdmin: 200, .member: 403])),
        MatrixRow(.post, "/api/v1/repository/{repository}/tokens/", path: "/api/v1/repository/acme/app/tokens/",
                  body: #"{"friendlyName":"matrix"}"#, expect(404, [.anonymous: 401, .orgAdmin: 201, .member: 403])),
        MatrixRow(.get, "/api/v1/repository/{repository}/tokens/{code_uuid}", expect(404, [.anonymous: 401, .orgAdmin: 200, .member: 403])) { fx, _ in
            ("/api/v1/repository/acme/app/tokens/\(try await TokenRowSetup.delegateToken(fx))", nil)
        },
        MatrixRow(.put, "/api/v1/repository/{repository}/tokens/{code_uuid}", expect(404, [.anonymous: 401, .orgAdmin: 200, .member: 403])) { fx, _ in
            ("/api/v1/repository/acme/app/tokens/\(try await TokenRowSetup.delegateToken(fx))", #"{"role":"write"}"#)
        },
        MatrixRow(.delete, "/api/v1/repository/{repository}/tokens/{code_uuid}", expect(404, [.anonymous: 401, .orgAdmin: 204, .member: 403])) { fx, _ in
            ("/api/v1/repository/acme/app/tokens/\(try await TokenRowSetup.delegateToken(fx))", nil)
        },
    ]
}

/// Set-up helpers of the rows above.
private enum TokenRowSetup {
    /// Creates something through the API as `who` and returns the JSON answer.
    static func create(_ fx: MatrixFixture, _ who: MatrixIdentity, _ path: String, _ body: String) async throws -> [String: Any] {
        let r = try await fx.client.send(.post, path, token: fx.tokens[who], headers: [.contentType: "application/json"],
                                         body: ByteBuffer(string: body))
        guard (200..<300).contains(Int(r.status.code)), let json = r.json as? [String: Any] else {
            throw TestFailure("matrix set-up POST \(path) failed: \(r.status) \(String(buffer: r.body))")
        }
        return json
    }

    static func ownerAppToken(_ fx: MatrixFixture) async throws -> String {
        let json = try await create(fx, .owner, "/api/v1/user/apptoken", #"{"title":"matrix target"}"#)
        return try #require((json["token"] as? [String: Any])?["uuid"] as? String)
    }

    static func acmeApplication(_ fx: MatrixFixture) async throws -> String {
        let json = try await create(fx, .orgAdmin, "/api/v1/organization/acme/applications", #"{"name":"matrix target"}"#)
        return try #require(json["client_id"] as? String)
    }

    static func delegateToken(_ fx: MatrixFixture) async throws -> String {
        let json = try await create(fx, .orgAdmin, "/api/v1/repository/acme/app/tokens/", #"{"friendlyName":"matrix target"}"#)
        return try #require(json["uuid"] as? String)
    }
}
