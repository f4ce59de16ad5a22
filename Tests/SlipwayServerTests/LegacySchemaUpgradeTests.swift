import Accounts
import Foundation
import Logging
import Registry
import SlipwayCore
import SlipwayServer
import SlipwayTestSupport
import SQLKit
import Testing

/// Databases written before modules owned their migrations upgrade in place. The fixtures in
/// Tests/Fixtures/legacy-schema were written by commit 8f6d78d (global schema versions 1, 2,
/// 20-24, 30, 31, 40, 41; see make_fixture.py): a SQLite file with its blob storage, and a
/// PostgreSQL dump of the same installation (the same pushes, so the same blobs).
@Suite("Legacy schema upgrade")
struct LegacySchemaUpgradeTests {
    /// The global versions the fixtures record.
    static let fixtureVersions = [1, 2, 20, 21, 22, 23, 24, 30, 31, 40, 41]
    static let fixturePassword = "fixture-password-1"

    static func legacyInstallation(_ backend: TestBackend) async throws -> (config: SlipwayConfig, cleanup: @Sendable () async -> Void) {
        try await LegacyInstallation.copy(backend)
    }

    /// The module migrations the fixtures' global versions stand for.
    static var adopted: Set<ModuleVersion> {
        Set(fixtureVersions.flatMap { SlipwaySchema.legacy.steps[$0] ?? [] })
    }

    static var declared: Set<ModuleVersion> {
        Set(SlipwaySchema.modules.flatMap { s in s.migrations.map { ModuleVersion(s.module, $0.version) } })
    }

    @Test func everyLegacyVersionMapsOntoDeclaredMigrations() {
        for version in Self.fixtureVersions {
            #expect(SlipwaySchema.legacy.steps[version]?.isEmpty == false, "legacy version \(version) is not mapped")
        }
        for steps in SlipwaySchema.legacy.steps.values {
            #expect(Set(steps).isSubset(of: Self.declared))
        }
    }

    @Test(arguments: TestBackend.available)
    func legacyDatabaseIsAdoptedNotRecreated(backend: TestBackend) async throws {
        let (config, cleanup) = try await Self.legacyInstallation(backend)
        let database = try await TestDatabases.open(config: config, logger: TestRegistry.logger)
        do {
            let legacyTimes = try await database.read { db in
                Dictionary(uniqueKeysWithValues: try await db.raw("SELECT version, applied_at FROM schema_migrations").all().map {
                    (Int(try $0.int64("version")), try $0.int64("applied_at"))
                })
            }
            #expect(Set(legacyTimes.keys) == Set(Self.fixtureVersions))

            let applied = try await SlipwaySchema.migrate(database, logger: TestRegistry.logger)
            // Nothing the old release created ran again; what came after it ran once.
            #expect(Set(applied).isDisjoint(with: Self.adopted))
            #expect(Set(applied) == Self.declared.subtracting(Self.adopted))
            #expect(applied.contains(ModuleVersion("triggers", 2)), "the ssh host key column came after 8f6d78d")
            #expect(applied.contains(ModuleVersion("core", 3)), "the job queue came after 8f6d78d")

            // Adopted steps keep the time their global version was applied.
            let recorded = try await database.read { db in
                try await db.raw("SELECT module, version, applied_at FROM schema_versions").all().map {
                    (ModuleVersion(try $0.string("module"), Int(try $0.int64("version"))), try $0.int64("applied_at"))
                }
            }
            #expect(Set(recorded.map(\.0)) == Self.declared)
            for (key, appliedAt) in recorded where Self.adopted.contains(key) {
                let origin = try #require(Self.fixtureVersions.first { SlipwaySchema.legacy.steps[$0]?.contains(key) == true })
                #expect(appliedAt == legacyTimes[origin], "\(key) should keep the time of global version \(origin)")
            }
            // A second start applies nothing.
            #expect(try await SlipwaySchema.migrate(database, logger: TestRegistry.logger).isEmpty)
        } catch {
            await database.shutdown()
            await cleanup()
            throw error
        }
        await database.shutdown()
        await cleanup()
    }

    /// What the old release stored reads back through today's code: sign-in, tags and blobs,
    /// the time machine, a robot's permission and token, the trigger, the notification and the
    /// queued build.
    @Test(arguments: TestBackend.available)
    func legacyDataReadsBack(backend: TestBackend) async throws {
        let (config, cleanup) = try await Self.legacyInstallation(backend)
        let registry = try await TestRegistry.open(config: config, cleanup: cleanup)
        try await TestRegistry.serve(registry) { registry, c in
            // The admin signs in with the fixture's password (a bootstrap never replaced it).
            let push = try #require(try await c.token(.init("admin", Self.fixturePassword), scopes: ["repository:acme/app:pull,push"]))
            let store = registry.services.store
            let accounts = registry.services.accounts
            let admin = try #require(try await accounts.namespace(named: "admin"))
            let api = APITokens.generate()
            try await accounts.createAPIToken(userID: admin.id, tokenHash: APITokens.hash(api), scopes: Array(APICaller.allScopes), description: "t")

            // Tags v1 and latest name their manifests (they may have expired since: the fixture's
            // images carry quay.expires-after 30d), and the manifests and blobs read by digest.
            let repo = try #require(try await accounts.repository(RepositoryPath(namespace: "acme", name: "app")))
            let tags = try await store.tagRecords(repositoryID: repo.id, filter: nil, onlyActive: false, offset: 0, limit: 50)
            let v1 = try #require(tags.first { $0.name == "v1" && $0.end == nil })
            let latest = try #require(tags.first { $0.name == "latest" && $0.end == nil })
            #expect(v1.digest.description == "sha256:0b3efcc9f499fba095b35fe1b5c6075fa4ef0fe67efb47e83d5f315625d72804")
            #expect(latest.digest.description == "sha256:59b739af62c51b94bdde058fd1f043b57fd4ccab41d4b688fe49b12925526c9e")
            for tag in [v1, latest] {
                let manifest = try await c.send(.get, "/v2/acme/app/manifests/\(tag.digest)", token: push,
                                                headers: [.accept: "application/vnd.oci.image.manifest.v1+json"])
                #expect(manifest.status == .ok)
                let doc = try #require(manifest.json as? [String: Any])
                let layers = try #require(doc["layers"] as? [[String: Any]])
                let config = try #require(doc["config"] as? [String: Any])
                for descriptor in layers + [config] {
                    let digest = try #require(descriptor["digest"] as? String)
                    let blob = try await c.send(.get, "/v2/acme/app/blobs/\(digest)", token: push)
                    #expect(blob.status == .ok)
                    #expect(Digest.sha256(of: Array(buffer: blob.body)).description == digest)
                }
                if tag.expiration.map({ $0 > Clock.nowMillis() }) ?? true {
                    #expect(try await c.send(.head, "/v2/acme/app/manifests/\(tag.name)", token: push).status == .ok)
                }
            }

            // The deleted tag `stable` is still in the time machine and restores (with a window
            // reaching back to the fixture's deletion, however old it is by now).
            let stable = try #require(tags.first { $0.name == "stable" })
            let ended = try #require(stable.end)
            let window = (Clock.nowMillis() - ended) / 1000 + 3600
            #expect(stable.digest == v1.digest)
            #expect(try await store.restoreTag(repositoryID: repo.id, name: "stable", digest: stable.digest, windowSeconds: window) == .restored)
            #expect(try await c.send(.head, "/v2/acme/app/manifests/stable", token: push).status == .ok)

            // The robot acme+ci still has write, and its sealed token still opens (the instance
            // key survived): it logs in to the registry and may push.
            let permission = try await c.send(.get, "/api/v1/repository/acme/app/permissions/user/acme+ci", token: api)
            #expect((permission.json as? [String: Any])?["role"] as? String == "write")
            let robot = try await c.send(.get, "/api/v1/organization/acme/robots/ci", token: api)
            let robotToken = try #require((robot.json as? [String: Any])?["token"] as? String)
            let robotPush = try await c.token(.init("acme+ci", robotToken), scopes: ["repository:acme/app:pull,push"])
            #expect(robotPush != nil)

            // The trigger and the notification are listed.
            let triggers = try await c.send(.get, "/api/v1/repository/acme/app/trigger/", token: api)
            let triggerList = try #require((triggers.json as? [String: Any])?["triggers"] as? [[String: Any]])
            #expect(triggerList.count == 1)
            #expect(triggerList.first?["service"] as? String == "custom-git")
            #expect(triggerList.first?["is_active"] as? Bool == true)
            let notifications = try await c.send(.get, "/api/v1/repository/acme/app/notification/", token: api)
            let notificationList = try #require((notifications.json as? [String: Any])?["notifications"] as? [[String: Any]])
            #expect(notificationList.map { $0["title"] as? String } == ["push hook"])

            // The queued build is still queued, and reads back by its id.
            let builds = try await c.send(.get, "/api/v1/repository/acme/app/build/", token: api)
            let buildList = try #require((builds.json as? [String: Any])?["builds"] as? [[String: Any]])
            #expect(buildList.count == 1)
            let buildID = try #require(buildList.first?["id"] as? String)
            let build = try await c.send(.get, "/api/v1/repository/acme/app/build/\(buildID)", token: api)
            #expect(build.status == .ok)
            #expect((build.json as? [String: Any])?["phase"] as? String == "waiting")

            // New rows get fresh ids (the identity sequences came through): a push to a new repository works.
            let newPush = try #require(try await c.token(.init("admin", Self.fixturePassword), scopes: ["repository:acme/new:pull,push"]))
            try await c.pushImage("acme/new", tag: "v1", token: newPush)
        }
    }

    /// A fresh database gets the same tables, columns, indexes and constraints as an upgraded one.
    @Test(arguments: TestBackend.available)
    func upgradedSchemaEqualsFreshSchema(backend: TestBackend) async throws {
        let (config, cleanup) = try await Self.legacyInstallation(backend)
        let upgraded: [String]
        do {
            let database = try await TestDatabases.openMigrated(config: config, logger: TestRegistry.logger)
            upgraded = try await SchemaDescription.of(database)
            await database.shutdown()
        } catch {
            await cleanup()
            throw error
        }
        await cleanup()
        let fresh = try await TestRegistry.start(backend)
        let freshSchema: [String]
        do {
            freshSchema = try await SchemaDescription.of(fresh.database)
        } catch {
            await fresh.stop()
            throw error
        }
        await fresh.stop()
        #expect(!freshSchema.isEmpty)
        let onlyFresh = freshSchema.filter { !upgraded.contains($0) }
        let onlyUpgraded = upgraded.filter { !freshSchema.contains($0) }
        #expect(onlyFresh.isEmpty, "only in a fresh database: \(onlyFresh)")
        #expect(onlyUpgraded.isEmpty, "only in an upgraded database: \(onlyUpgraded)")
    }
}

/// A database's schema as comparable lines: tables with their columns, indexes and
/// constraints, without the legacy `schema_migrations` table (upgraded databases keep it).
enum SchemaDescription {
    static func of(_ database: any Database) async throws -> [String] {
        let flavor = database.flavor
        return try await database.read { db in
            switch flavor {
            case .sqlite:
                // SQLite keeps each table's and index's DDL as written (ALTERs included).
                return try await db.raw("""
                    SELECT type, name, tbl_name, sql FROM sqlite_master
                    WHERE name NOT LIKE 'sqlite%' AND tbl_name <> 'schema_migrations' ORDER BY type, name
                    """).all().map {
                    "\(try $0.string("type")) \(try $0.string("name")) on \(try $0.string("tbl_name")): \(try $0.optionalString("sql") ?? "")"
                }
            case .postgres:
                let columns = try await db.raw("""
                    SELECT table_name || '.' || column_name || ' #' || ordinal_position || ' ' || data_type || ' nullable=' || is_nullable
                      || ' default=' || COALESCE(column_default, '') || ' identity=' || is_identity AS line
                    FROM information_schema.columns
                    WHERE table_schema = current_schema() AND table_name <> 'schema_migrations' ORDER BY 1
                    """).all().map { try $0.string("line") }
                let indexes = try await db.raw("""
                    SELECT indexdef AS line FROM pg_indexes WHERE schemaname = current_schema() AND tablename <> 'schema_migrations' ORDER BY 1
                    """).all().map { try $0.string("line") }
                let constraints = try await db.raw("""
                    SELECT c.relname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid) AS line
                    FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace s ON s.oid = c.relnamespace
                    WHERE s.nspname = current_schema() AND c.relname <> 'schema_migrations' ORDER BY 1
                    """).all().map { try $0.string("line") }
                let views = try await db.raw("""
                    SELECT 'view ' || viewname || ': ' || definition AS line FROM pg_views WHERE schemaname = current_schema() ORDER BY 1
                    """).all().map { try $0.string("line") }
                return columns + indexes + constraints + views
            }
        }
    }
}
