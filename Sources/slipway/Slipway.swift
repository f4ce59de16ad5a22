import ArgumentParser
import Foundation
import Logging
import Registry
import SlipwayCore
import SlipwayServer

@main
struct Slipway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slipway",
        abstract: "A container registry with a build farm.",
        discussion: """
            Configuration comes from a YAML file (--config), then SLIPWAY_* environment variables, then flags.
            Run `slipway config` to list every key with its environment variable.
            """,
        subcommands: [Serve.self, Worker.self, Admin.self, Migrate.self, ConfigCommand.self]
    )
}

/// Options shared by every command that touches the server's data.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "YAML configuration file.")
    var config: String?

    @Option(name: .customLong("data-dir"), help: "Data directory for the embedded SQLite database and blob storage (default ./data).")
    var dataDir: String?

    func load(extra: [String: String] = [:]) throws -> SlipwayConfig {
        var overrides = extra
        if let dataDir { overrides["dataDir"] = dataDir }
        do {
            return try ConfigLoader.load(file: config, overrides: overrides)
        } catch let error as ConfigError {
            throw ValidationError("configuration error: \(error.message)")
        }
    }
}

func makeLogger(_ config: SlipwayConfig, label: String = "slipway") -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = Logger.Level(rawValue: config.logging.level) ?? .info
    return logger
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply database schema migrations and exit.")
    @OptionGroup var options: CommonOptions

    func run() async throws {
        let config = try options.load()
        try await withAccountStore(config) { _ in }
        print("schema is at version \(SlipwaySchema.versionSummary)")
    }
}

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "List every configuration key, its environment variable and meaning.")

    func run() async throws {
        for key in ConfigKeys.all {
            print("\(key.path)\n    env: \(key.environmentName)\n    \(key.help)")
        }
    }
}
