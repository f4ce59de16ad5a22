import Accounts
import ArgumentParser
import BuildOrchestrator
import Crypto
import Foundation
import Registry
import SlipwayCore

struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Operator commands that work directly on the data store (also while the server runs).",
        subcommands: [CreateUser.self, CreateToken.self, CollectGarbage.self, ScanLayers.self, Vulns.self])
}

struct CreateUser: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create-user", abstract: "Create a user account.")

    @OptionGroup var options: CommonOptions
    @Argument(help: "User name (2-255 characters of a-z, 0-9 and single '.', '_' or '-').") var name: String
    @Flag(name: .customLong("password-stdin"), help: "Read the password from standard input.") var passwordStdin = false
    @Option(name: .long, help: "E-mail address.") var email: String?
    @Flag(name: .long, help: "Make the user a superuser.") var superuser = false

    func validate() throws {
        guard Names.isValidNamespace(name) else {
            throw ValidationError("invalid user name '\(name)': use 2-255 characters of a-z, 0-9 and single '.', '_' or '-' between them")
        }
        guard passwordStdin else { throw ValidationError("pass the password on standard input with --password-stdin") }
    }

    func run() async throws {
        let password = (readLine(strippingNewline: true) ?? "")
        if let problem = Names.passwordProblem(password) { throw ValidationError(problem) }
        let config = try options.load()
        try await withAccountStore(config) { accounts in
            do {
                let hash = try await PasswordHasher(cost: config.auth.bcryptCost).hash(password)
                // A name listed in `auth.superUsers` is a superuser from the start (the server
                // re-applies that list at every start, which also overrides `--superuser`).
                try await accounts.createUser(name: name, passwordHash: hash, email: email,
                                              superuser: superuser || config.auth.superUsers.contains(name))
            } catch let e as DomainError where e.code == .alreadyExists {
                throw ValidationError(e.message)
            }
        }
        print("created user \(name)")
    }
}

struct CreateToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-token", abstract: "Create an API token for a user and print it (a Bearer token for /api/v1).")

    @OptionGroup var options: CommonOptions
    @Option(name: .long, help: "The user the token acts as.") var user: String
    @Option(name: .long, parsing: .upToNextOption,
            help: "Scopes (repo:read repo:write repo:admin repo:create user:read user:admin org:admin super:user). Default: all but super:user.")
    var scope: [String] = []
    @Option(name: .long, help: "What the token is for.") var description = "created by slipway admin create-token"

    static let knownScopes = ["repo:read", "repo:write", "repo:admin", "repo:create", "user:read", "user:admin", "org:admin", "super:user"]

    func validate() throws {
        for s in scope where !Self.knownScopes.contains(s) {
            throw ValidationError("unknown scope '\(s)'; known scopes: \(Self.knownScopes.joined(separator: ", "))")
        }
    }

    func run() async throws {
        let config = try options.load()
        let token = try await withAccountStore(config) { accounts in
            guard let ns = try await accounts.namespace(named: user), ns.kind == .user else {
                throw ValidationError("no user named '\(user)'")
            }
            let scopes = scope.isEmpty ? Self.knownScopes.filter { $0 != "super:user" } : scope
            let token = APITokens.generate()
            try await accounts.createAPIToken(userID: ns.id, tokenHash: APITokens.hash(token), scopes: scopes, description: description)
            return token
        }
        print(token)
    }
}

struct CollectGarbage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Run garbage-collection passes now and print what they removed (safe while the server runs).")

    @OptionGroup var options: CommonOptions
    @Option(name: .long, help: "Protection in seconds for fresh, unreferenced manifests and blobs (default: gc.graceSeconds).") var grace: Int?
    @Option(name: .long, help: "Seconds between dropping a blob and deleting its bytes (default: gc.tombstoneSeconds).") var tombstone: Int?
    @Option(name: .long, help: "How many passes to run (bytes of dropped blobs go in the pass after).") var passes = 2

    func run() async throws {
        let config = try options.load()
        try await withRegistryServices(config) { services in
            var settings = CollectorSettings(config: config)
            settings.graceSeconds = Int64(grace ?? config.gc.graceSeconds)
            settings.tombstoneSeconds = Int64(tombstone ?? config.gc.tombstoneSeconds)
            // The same passes as the server's background collector.
            let collector = SlipwayApplication.collector(services: services, modules: [BuildFarmModule(services: services)], settings: settings)
            for pass in 1...max(1, passes) {
                let start = ContinuousClock.now
                let r = try await collector.runPass()
                let elapsed = ContinuousClock.now - start
                print("pass \(pass): \(elapsed) tags=\(r.tags) repositories=\(r.repositories) manifests=\(r.manifests) links=\(r.links) blobs_dropped=\(r.tombstoned) blobs_deleted=\(r.blobsDeleted) uploads=\(r.uploads) file_drops=\(r.fileDrops) build_log_archives=\(r.buildLogArchives)")
            }
        }
    }
}
