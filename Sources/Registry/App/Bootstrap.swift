import Foundation
import Logging
import SlipwayCore

/// First-start set-up: the admin account and the `library` organization that single-segment
/// repository names (`busybox` → `library/busybox`) live in.
public enum Bootstrap {
    public struct Result: Sendable {
        /// Set when a password was generated; printed once to the operator.
        public let generatedPassword: String?
        public let adminName: String?
    }

    public static func run(store: MetadataStore, hasher: PasswordHasher, environment: [String: String], logger: Logger) async throws -> Result {
        var generated: String?
        var adminName: String?
        if let name = environment["SLIPWAY_ADMIN_USER"], !name.isEmpty {
            adminName = name
            if try await store.namespace(named: name) == nil {
                guard Names.isValidNamespace(name) else {
                    throw ConfigError("SLIPWAY_ADMIN_USER '\(name)' is not a valid user name (2-255 of a-z, 0-9 and single '.', '_', '-')")
                }
                let password: String
                if let given = environment["SLIPWAY_ADMIN_PASSWORD"], !given.isEmpty {
                    if let problem = Names.passwordProblem(given) { throw ConfigError("SLIPWAY_ADMIN_PASSWORD: \(problem)") }
                    password = given
                } else {
                    password = generatePassword()
                    generated = password
                }
                try await createAdmin(name: name, password: password, store: store, hasher: hasher)
                logger.notice("created admin user", metadata: ["user": "\(name)"])
            }
        } else if try await !store.hasAnyUser() {
            let password = generatePassword()
            try await createAdmin(name: "admin", password: password, store: store, hasher: hasher)
            generated = password
            adminName = "admin"
            logger.notice("created admin user", metadata: ["user": "admin"])
        }
        return Result(generatedPassword: generated, adminName: adminName)
    }

    private static func createAdmin(name: String, password: String, store: MetadataStore, hasher: PasswordHasher) async throws {
        let user = try await store.createUser(name: name, passwordHash: try await hasher.hash(password), email: nil, superuser: true)
        if try await store.namespace(named: RepositoryPath.libraryNamespace) == nil {
            _ = try? await store.createOrganization(name: RepositoryPath.libraryNamespace, email: nil, creatorID: user.id)
        }
    }

    public static func generatePassword() -> String {
        let alphabet = Array("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var rng = SystemRandomNumberGenerator()
        return String((0..<20).map { _ in alphabet[Int(rng.next(upperBound: UInt32(alphabet.count)))] })
    }
}

extension MetadataStore {
    public func hasAnyUser() async throws -> Bool {
        try await database.read { db in
            try await db.raw("SELECT id FROM namespaces WHERE kind = 'user' LIMIT 1").first() != nil
        }
    }
}
