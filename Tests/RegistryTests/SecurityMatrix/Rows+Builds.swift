import Accounts
import BuildOrchestrator
import Foundation
import Registry

/// Matrix rows for the builds API (acme/app; destructive rows use a fresh build each).
extension MatrixRows {
    /// A completed file drop, usable as a build context by `owner` (the org admin by default).
    static func freshFileDrop(_ f: MatrixFixture, owner: MatrixIdentity = .orgAdmin) async throws -> String {
        let id = APITokens.generate()
        try await f.registry.buildFarm.store.createFileDrop(id: id, userID: f.users[owner]!.id, mimeType: "text/plain")
        _ = try await f.registry.buildFarm.store.completeFileDrop(id: id, digest: "sha256:" + String(repeating: "0", count: 64), size: 13)
        return id
    }

    static func freshBuild(_ f: MatrixFixture) async throws -> String {
        let accounts = f.registry.services.accounts
        let repo = try await accounts.repository(RepositoryPath(namespace: "acme", name: "app"))!
        let record = BuildRecord(repository: repo, sourceKind: "upload", fileID: try await freshFileDrop(f), dockerfilePath: "Dockerfile",
                                 context: "", tags: ["latest"], displayName: "m", manualUserID: nil)
        guard case .accepted(let stored) = try await f.registry.buildFarm.queue.enqueue(record) else { fatalError("queue full in the matrix") }
        return stored.uuid
    }

    static let builds: [MatrixRow] = [
        // Each caller with their own upload.
        MatrixRow(.post, "/api/v1/repository/{repository}/build/", writeApp(201)) { f, who in
            ("/api/v1/repository/acme/app/build/", #"{"file_id":"\#(try await freshFileDrop(f, owner: who == .anonymous ? .orgAdmin : who))"}"#)
        },
        // Another user's upload (a reader of the repository made it): refused even to its writer,
        // with Quay's 400 for a file that cannot be found.
        MatrixRow(.post, "/api/v1/repository/{repository}/build/", writeApp(400)) { f, _ in
            ("/api/v1/repository/acme/app/build/", #"{"file_id":"\#(try await freshFileDrop(f, owner: .member))"}"#)
        },
        MatrixRow(.get, "/api/v1/repository/{repository}/build/", path: "/api/v1/repository/acme/app/build/", readApp),
        MatrixRow(.get, "/api/v1/repository/{repository}/build/{build_uuid}", readApp) { f, _ in
            ("/api/v1/repository/acme/app/build/\(try await freshBuild(f))", nil)
        },
        MatrixRow(.get, "/api/v1/repository/{repository}/build/{build_uuid}/status", readApp) { f, _ in
            ("/api/v1/repository/acme/app/build/\(try await freshBuild(f))/status", nil)
        },
        MatrixRow(.get, "/api/v1/repository/{repository}/build/{build_uuid}/logs", writeApp(200)) { f, _ in
            ("/api/v1/repository/acme/app/build/\(try await freshBuild(f))/logs", nil)
        },
        MatrixRow(.get, "/api/v1/repository/{repository}/build/{build_uuid}/logs/text", writeApp(200)) { f, _ in
            ("/api/v1/repository/acme/app/build/\(try await freshBuild(f))/logs/text", nil)
        },
        MatrixRow(.delete, "/api/v1/repository/{repository}/build/{build_uuid}", adminApp(201)) { f, _ in
            ("/api/v1/repository/acme/app/build/\(try await freshBuild(f))", nil)
        },
        MatrixRow(.post, "/api/v1/filedrop/", body: #"{"mimeType":"application/x-tar"}"#, expect(200, [.anonymous: 401, .narrowToken: 403])),
    ]
}
