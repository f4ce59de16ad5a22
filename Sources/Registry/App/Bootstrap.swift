import Accounts
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

    public static func run(accounts: AccountStore, hasher: PasswordHasher, environment: [String: String], logger: Logger) async throws -> Result {
        var generated: String?
        var adminName: String?
        if let name = environment["SLIPWAY_ADMIN_USER"], !name.isEmpty {
            adminName = name
            if try await accounts.namespace(named: name) == nil {
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
                try await createAdmin(name: name, password: password, accounts: accounts, hasher: hasher)
                logger.notice("created admin user", metadata: ["user": "\(name)"])
            }
        } else if try await !accounts.hasAnyUser() {
            let password = generatePassword()
            try await createAdmin(name: "admin", password: password, accounts: accounts, hasher: hasher)
            generated = password
            adminName = "admin"
            logger.notice("created admin user", metadata: ["user": "admin"])
        }
        return Result(generatedPassword: generated, adminName: adminName)
    }

    private static func createAdmin(name: String, password: String, accounts: AccountStore, hasher: PasswordHasher) async throws {
        let user = try await accounts.createUser(name: name, passwordHash: try await hasher.hash(password), email: nil, superuser: true)
        if try await accounts.namespace(named: RepositoryPath.libraryNamespace) == nil {
            _ = try? await accounts.createOrganization(name: RepositoryPath.libraryNamespace, email: nil, creatorID: user.id)
        }
    }

    public static func generatePassword() -> String {
        let alphabet = Array("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var rng = SystemRandomNumberGenerator()
        return String((0..<20).map { _ in alphabet[Int(rng.next(upperBound: UInt32(alphabet.count)))] })
    }
}
