import Foundation
import NIOCore
import Registry

/// Matrix rows for the build trigger API (acme/app; every route needs repository admin, which
/// only the org admin has there). Rows that change a trigger use a fresh one per identity,
/// created and activated through the API by the org admin.
extension MatrixRows {
    static let triggerBase = "/api/v1/repository/acme/app/trigger"

    /// A new custom-git trigger on acme/app (activated unless `active` is false); its uuid.
    static func freshTrigger(_ f: MatrixFixture, active: Bool = true, source: String = "https://git.example.com/acme/app.git") async throws -> String {
        let token = f.tokens[.orgAdmin]
        let created = try await f.client.send(.post, triggerBase + "/", token: token, headers: [.contentType: "application/json"],
                                              body: ByteBuffer(string: #"{"service":"custom-git"}"#))
        guard let uuid = (created.json as? [String: Any])?["id"] as? String else { fatalError("trigger creation failed in the matrix") }
        if active {
            let r = try await f.client.send(.post, "\(triggerBase)/\(uuid)/activate", token: token, headers: [.contentType: "application/json"],
                                            body: ByteBuffer(string: #"{"config":{"build_source":"\#(source)"}}"#))
            guard r.status == .ok else { fatalError("trigger activation failed in the matrix: \(r.status)") }
        }
        return uuid
    }

    static var triggers: [MatrixRow] {
        [
            MatrixRow(.post, "/api/v1/repository/{repository}/trigger/", path: triggerBase + "/", body: #"{"service":"custom-git"}"#, adminApp(201)),
            MatrixRow(.get, "/api/v1/repository/{repository}/trigger/", path: triggerBase + "/", adminApp(200)),
            MatrixRow(.get, "/api/v1/repository/{repository}/trigger/{trigger_uuid}", adminApp(200)) { f, _ in
                ("\(triggerBase)/\(try await freshTrigger(f))", nil)
            },
            MatrixRow(.put, "/api/v1/repository/{repository}/trigger/{trigger_uuid}", adminApp(200)) { f, _ in
                ("\(triggerBase)/\(try await freshTrigger(f))", #"{"enabled":false}"#)
            },
            MatrixRow(.delete, "/api/v1/repository/{repository}/trigger/{trigger_uuid}", adminApp(204)) { f, _ in
                ("\(triggerBase)/\(try await freshTrigger(f, active: false))", nil)
            },
            MatrixRow(.post, "/api/v1/repository/{repository}/trigger/{trigger_uuid}/activate", adminApp(200)) { f, _ in
                ("\(triggerBase)/\(try await freshTrigger(f, active: false))/activate", #"{"config":{"build_source":"git@git.example.com:acme/app.git"}}"#)
            },
            MatrixRow(.post, "/api/v1/repository/{repository}/trigger/{trigger_uuid}/analyze", adminApp(200)) { f, _ in
                ("\(triggerBase)/\(try await freshTrigger(f, active: false))/analyze", #"{"config":{"build_source":"git@git.example.com:acme/app.git"}}"#)
            },
            MatrixRow(.post, "/api/v1/repository/{repository}/trigger/{trigger_uuid}/start", adminApp(201)) { f, _ in
                ("\(triggerBase)/\(try await freshTrigger(f))/start", #"{"commit_sha":"1c002dd7d0c6a3b1f6b8a1e0e7b2c1d9e5f4a3b2"}"#)
            },
            MatrixRow(.get, "/api/v1/repository/{repository}/trigger/{trigger_uuid}/builds", adminApp(200)) { f, _ in
                ("\(triggerBase)/\(try await freshTrigger(f))/builds", nil)
            },
            MatrixRow(.get, "/api/v1/repository/{repository}/trigger/{trigger_uuid}/activity", adminApp(200)) { f, _ in
                ("\(triggerBase)/\(try await freshTrigger(f))/activity", nil)
            },
            MatrixRow(.post, "/api/v1/repository/{repository}/trigger/{trigger_uuid}/hostkeys", adminApp(200)) { f, _ in
                ("\(triggerBase)/\(try await freshTrigger(f, source: "ssh://git@git.example.com:2222/acme/app.git"))/hostkeys",
                 #"{"known_hosts":"[git.example.com]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"}"#)
            },
            MatrixRow(.put, "/api/v1/repository/{repository}/trigger/{trigger_uuid}", adminApp(200)) { f, _ in
                ("\(triggerBase)/\(try await freshTrigger(f))", #"{"config":{"build_source":"https://git.example.com/acme/other.git"}}"#)
            },
        ]
    }
}
