import Foundation
import SlipwayCore

/// The installation of an earlier release kept in Tests/Fixtures/legacy-schema (written by
/// commit 8f6d78d, see make_fixture.py): a SQLite file with its blob storage, and a PostgreSQL
/// dump of the same installation. Upgrade tests open copies of it with today's code.
public enum LegacyInstallation {
    public static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/legacy-schema")
    /// A copy of the legacy installation: the blob storage in a fresh data directory and the
    /// database (the SQLite file copied there, or the dump loaded into a fresh PostgreSQL
    /// database). The cleanup removes both.
    public static func copy(_ backend: TestBackend) async throws -> (config: SlipwayConfig, cleanup: @Sendable () async -> Void) {
        let dir = NSTemporaryDirectory() + "slipway-legacy-" + UUID().uuidString.prefix(8).lowercased()
        let files = FileManager.default
        try files.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try files.copyItem(atPath: fixtures.appendingPathComponent("storage").path, toPath: dir + "/storage")
        var config = TestRegistry.configuration(dataDir: dir)
        switch backend {
        case .sqlite:
            try files.copyItem(atPath: fixtures.appendingPathComponent("slipway.sqlite").path, toPath: dir + "/slipway.db")
            return (config, { try? FileManager.default.removeItem(atPath: dir) })
        case .postgres:
            let (url, drop) = try await TestBackend.createPostgresDatabase()
            do {
                try await runPSQL(url: url, file: fixtures.appendingPathComponent("postgres.sql").path)
            } catch {
                await drop()
                try? files.removeItem(atPath: dir)
                throw error
            }
            config.database.driver = .postgres
            config.database.postgresURL = url
            return (config, {
                await drop()
                try? FileManager.default.removeItem(atPath: dir)
            })
        }
    }

    /// Loads a pg_dump script with psql (the dump uses psql's meta-commands).
    static func runPSQL(url: String, file: String) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", file]
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        guard status == 0 else {
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw TestFailure("psql failed (\(status)): \(message.prefix(2000))")
        }
    }
}
