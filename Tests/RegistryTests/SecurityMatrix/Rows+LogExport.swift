import Accounts
import Audit
import Foundation
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Matrix rows for usage-log exports. Queuing needs the same role as reading the logs; the
/// download route is anonymous because its signed token is the credential, so every identity
/// gets the same answer: 200 with a valid link, 403 with a forged one.
extension MatrixRows {
    static let exportBody = #"{"callback_email":"ops@acme.test"}"#

    static let logExports: [MatrixRow] = [
        MatrixRow(.post, "/api/v1/repository/{repository}/exportlogs", path: "/api/v1/repository/acme/app/exportlogs", body: exportBody, adminApp(200)),
        MatrixRow(.post, "/api/v1/user/exportlogs", body: exportBody, expect(200, [.anonymous: 401, .narrowToken: 403])),
        MatrixRow(.post, "/api/v1/organization/{orgname}/exportlogs", path: "/api/v1/organization/acme/exportlogs", body: exportBody,
                  expect(403, [.anonymous: 401, .orgAdmin: 200])),
        MatrixRow(.get, "/api/v1/exportedlogs/{export_id}", expect(200)) { f, _ in
            let id = try await finishedExport(f)
            let token = try await LogExportLinks(keys: InstanceKeys(database: f.registry.database)).token(exportID: id, expiresAt: Int64(Date().timeIntervalSince1970) + 600)
            return ("/api/v1/exportedlogs/\(id)?token=\(token)", nil)
        },
        MatrixRow(.get, "/api/v1/exportedlogs/{export_id}", expect(403)) { f, _ in
            let id = try await finishedExport(f)
            return ("/api/v1/exportedlogs/\(id)?token=9999999999.\(String(repeating: "A", count: 43))", nil)
        },
    ]

    /// A fresh export of acme/app's logs, written to storage.
    static func finishedExport(_ f: MatrixFixture) async throws -> String {
        let accounts = f.registry.services.accounts
        let auditStore = f.registry.services.auditStore
        let repo = try #require(try await accounts.repository(RepositoryPath(namespace: "acme", name: "app")))
        let now = Clock.nowMillis()
        let export = try await auditStore.createLogExport(.init(requesterID: f.users[.orgAdmin]!.id, scope: .repository(repo.id), namespaceName: "acme",
                                                           repositoryName: "app", start: now - 86_400_000, end: now + 86_400_000,
                                                           callbackURL: nil, callbackEmail: "ops@acme.test", origin: "http://localhost"))
        // The application's own exporter may get there first; either way, wait for the file.
        let exporter = LogExporter(services: f.registry.services)
        let deadline = ContinuousClock.now + .seconds(20)
        while try await auditStore.logExport(uuid: export.uuid)?.status != .done {
            guard ContinuousClock.now < deadline else { throw TestFailure("export \(export.uuid) was not written") }
            await exporter.runPending()
            try await Task.sleep(for: .milliseconds(20))
        }
        return export.uuid
    }
}
