import Foundation
import SlipwayCore
import SQLKit

/// One identity an OIDC issuer vouches for that may act as a robot (Quay's robot federation
/// entry `{issuer, subject}`), with Slipway's optional audience and claim conditions.
public struct RobotFederationEntry: Sendable, Equatable, Codable {
    public var issuer: String
    public var subject: String
    /// When set, the token's `aud` must include it.
    public var audience: String?
    /// Claim name -> required value (exact string match), e.g. GitHub Actions' `repository`
    /// and `ref`. Empty: issuer and subject alone decide.
    public var conditions: [String: String]

    public init(issuer: String, subject: String, audience: String? = nil, conditions: [String: String] = [:]) {
        self.issuer = issuer
        self.subject = subject
        self.audience = audience
        self.conditions = conditions
    }
}

extension AccountStore {
    /// The robot's federation entries, in the order they were set.
    public func robotFederation(robotID: Int64) async throws -> [RobotFederationEntry] {
        try await database.read { db in
            try await db.raw("""
                SELECT issuer, subject, audience, conditions FROM robot_federations WHERE robot_id = \(bind: robotID) ORDER BY id
                """).all().map { row in
                let conditions = try row.optionalString("conditions").flatMap {
                    try? JSONDecoder().decode([String: String].self, from: Data($0.utf8))
                } ?? [:]
                return RobotFederationEntry(issuer: try row.string("issuer"), subject: try row.string("subject"),
                                            audience: try row.optionalString("audience"), conditions: conditions)
            }
        }
    }

    /// Replaces the robot's federation with `entries` (empty removes it). Tokens issued under
    /// the old configuration stop working at once: a changed federation is usually a revocation.
    public func setRobotFederation(robotID: Int64, entries: [RobotFederationEntry]) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try await database.transaction { db in
            try await db.raw("DELETE FROM robot_federations WHERE robot_id = \(bind: robotID)").run()
            try await db.raw("DELETE FROM robot_federated_tokens WHERE robot_id = \(bind: robotID)").run()
            let now = Clock.nowMillis()
            for entry in entries {
                let conditions = entry.conditions.isEmpty ? nil : String(decoding: try encoder.encode(entry.conditions), as: UTF8.self)
                try await db.raw("""
                    INSERT INTO robot_federations (robot_id, issuer, subject, audience, conditions, created_at)
                    VALUES (\(bind: robotID), \(bind: entry.issuer), \(bind: entry.subject), \(bind: entry.audience),
                            \(bind: conditions), \(bind: now))
                    """).run()
            }
        }
    }

    /// The robot with this full name when it may exchange tokens: it, and its owner, enabled.
    public func robotForFederation(named name: String) async throws -> RobotAccount? {
        try await database.read { db in
            try await db.raw("""
                SELECT \(unsafeRaw: Self.robotColumns) FROM namespaces r
                WHERE name = \(bind: name) AND kind = 'robot' AND enabled <> 0
                  AND NOT EXISTS (SELECT 1 FROM namespaces o WHERE o.id = r.owner_id AND o.enabled = 0)
                """).first().map(Self.robot(from:))
        }
    }

    /// Stores a token an exchange issued (its hash), and drops the robot's expired ones.
    public func createFederatedRobotToken(robotID: Int64, tokenHash: String, issuer: String, subject: String,
                                          expiresAt: Int64) async throws {
        try await database.transaction { db in
            let now = Clock.nowMillis()
            try await db.raw("DELETE FROM robot_federated_tokens WHERE robot_id = \(bind: robotID) AND expires_at <= \(bind: now)").run()
            try await db.raw("""
                INSERT INTO robot_federated_tokens (robot_id, token_hash, issuer, subject, created_at, expires_at)
                VALUES (\(bind: robotID), \(bind: tokenHash), \(bind: issuer), \(bind: subject), \(bind: now), \(bind: expiresAt))
                """).run()
        }
    }

    /// Marks the robot's entries for `issuer` + `subject` as used. True only for the first
    /// exchange under them since they were set: that one is worth telling the owner about, the
    /// hundredth CI run is not. The conditional update decides races on either backend.
    public func claimFirstFederatedExchange(robotID: Int64, issuer: String, subject: String) async throws -> Bool {
        try await database.transaction { db in
            !(try await db.raw("""
                UPDATE robot_federations SET first_exchanged_at = \(bind: Clock.nowMillis())
                WHERE robot_id = \(bind: robotID) AND issuer = \(bind: issuer) AND subject = \(bind: subject) AND first_exchanged_at IS NULL
                RETURNING id
                """).all().isEmpty)
        }
    }

    /// Whether `tokenHash` is an unexpired exchanged token of the robot.
    public func hasFederatedRobotToken(robotID: Int64, tokenHash: String) async throws -> Bool {
        try await database.read { db in
            try await db.raw("""
                SELECT id FROM robot_federated_tokens
                WHERE robot_id = \(bind: robotID) AND token_hash = \(bind: tokenHash) AND expires_at > \(bind: Clock.nowMillis())
                """).first() != nil
        }
    }
}
