import Foundation
import Registry

/// Matrix rows for the superuser API (`SuperuserAPI`), global messages (`MessagesAPI`) and the
/// lookups (`LookupAPI`). `owner` (`admin`) is the superuser; `narrowToken` lacks `user:admin`.
extension MatrixRows {
    static let superuserOnly = expect(403, [.owner: 200, .anonymous: 401])

    static let quayAdmin: [MatrixRow] = [
        MatrixRow(.get, "/api/v1/superuser/users/", superuserOnly),
        MatrixRow(.post, "/api/v1/superuser/users/", superuserOnly) { _, who in
            ("/api/v1/superuser/users/", #"{"username":"su-made-\#(who.rawValue.lowercased())"}"#)
        },
        MatrixRow(.get, "/api/v1/superuser/users/{username}", path: "/api/v1/superuser/users/member", superuserOnly),
        MatrixRow(.put, "/api/v1/superuser/users/{username}", path: "/api/v1/superuser/users/member", body: #"{"enabled":true}"#, superuserOnly),
        MatrixRow(.delete, "/api/v1/superuser/users/{username}", expect(403, [.owner: 204, .anonymous: 401])) { f, who in
            let name = "su-gone-\(who.rawValue.lowercased())"
            try await f.registry.createUser(name)
            return ("/api/v1/superuser/users/\(name)", nil)
        },
        MatrixRow(.get, "/api/v1/superuser/organizations/", superuserOnly),
        MatrixRow(.delete, "/api/v1/superuser/organizations/{name}", expect(403, [.owner: 204, .anonymous: 401])) { f, who in
            let name = "su-doomed-\(who.rawValue.lowercased())"
            try await f.registry.services.accounts.createOrganization(name: name, email: nil, creatorID: f.users[.orgAdmin]!.id)
            return ("/api/v1/superuser/organizations/\(name)", nil)
        },
        MatrixRow(.get, "/api/v1/superuser/registrystatus", superuserOnly),
        MatrixRow(.get, "/api/v1/superuser/logs", superuserOnly),
        MatrixRow(.get, "/api/v1/superuser/aggregatelogs", superuserOnly),
        MatrixRow(.post, "/api/v1/superuser/exportlogs", body: #"{"callback_email":"ops@example.com"}"#, superuserOnly),
        MatrixRow(.get, "/api/v1/messages", expect(200)),
        MatrixRow(.post, "/api/v1/messages", body: #"{"message":{"content":"matrix","media_type":"text/plain","severity":"info"}}"#,
                  expect(403, [.owner: 201, .anonymous: 401])),
        MatrixRow(.delete, "/api/v1/message/{uuid}", expect(403, [.owner: 204, .anonymous: 401])) { f, _ in
            let message = try await f.registry.services.globalMessages.create(content: "matrix", mediaType: .plain, severity: .info)
            return ("/api/v1/message/\(message.uuid)", nil)
        },
        MatrixRow(.get, "/api/v1/entities/{prefix}", path: "/api/v1/entities/me?namespace=acme&includeTeams=true", expect(200, [.anonymous: 401])),
        MatrixRow(.get, "/api/v1/find/repositories", path: "/api/v1/find/repositories?query=app", expect(200)),
    ]
}
