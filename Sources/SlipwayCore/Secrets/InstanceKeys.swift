import SQLKit

/// Keys generated once per installation and shared by every replica through `instance_keys`
/// (the `SecretBox` key, the registry token signing key, HMAC keys). The first replica to store
/// a name wins; everyone reads the winner's value.
public struct InstanceKeys: Sendable {
    let database: any Database

    public init(database: any Database) {
        self.database = database
    }

    public func key(named name: String) async throws -> String? {
        try await database.read { db in
            try await db.raw("SELECT value FROM instance_keys WHERE name = \(bind: name)").first()?.string("value")
        }
    }

    /// Stores `value` unless a key of that name exists; returns the stored value either way, so
    /// replicas starting together agree on one key.
    public func storeIfAbsent(name: String, value: String) async throws -> String {
        try await database.transaction { db in
            try await db.raw("""
                INSERT INTO instance_keys (name, value, created_at) VALUES (\(bind: name), \(bind: value), \(bind: Clock.nowMillis()))
                ON CONFLICT (name) DO NOTHING
                """).run()
            return try await db.raw("SELECT value FROM instance_keys WHERE name = \(bind: name)").first()!.string("value")
        }
    }
}
