import Foundation
import Logging
import Yams

/// Loads `SlipwayConfig`: defaults, then the YAML file, then `SLIPWAY_*` environment variables,
/// then explicit command-line overrides. Unknown keys and bad values fail start-up with a message
/// that names the key.
public enum ConfigLoader {
    public static func load(
        file: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        overrides: [String: String] = [:]
    ) throws -> SlipwayConfig {
        var config = SlipwayConfig()
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ConfigError("cannot read configuration file '\(file)'")
            }
            try apply(yaml: text, to: &config, source: file)
        }
        for key in ConfigKeys.all {
            if let value = environment[key.environmentName] {
                try key.apply(&config, value)
            }
        }
        for (path, value) in overrides {
            guard let key = ConfigKeys.byPath[path] else { throw ConfigError("unknown configuration key '\(path)'") }
            try key.apply(&config, value)
        }
        try validate(config)
        return config
    }

    public static func apply(yaml text: String, to config: inout SlipwayConfig, source: String = "configuration") throws {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ConfigError("\(source) is not valid YAML: \(error)")
        }
        guard let node else { return }
        guard case .mapping = node else { throw ConfigError("\(source): the top level must be a mapping of keys") }
        var flat: [(String, String, FlatValue)] = []
        var providers: [OIDCProviderConfig] = []
        try flatten(node, prefix: "", into: &flat, providers: &providers)
        if !providers.isEmpty { config.auth.oidc = providers }
        for (path, value, kind) in flat {
            guard let key = ConfigKeys.key(path: path) else {
                throw ConfigError("\(source): unknown configuration key '\(path)'")
            }
            switch kind {
            case .scalar: break
            case .names: guard key.acceptsList else { throw ConfigError("configuration key '\(path)' does not take a list") }
            case .records: guard key.acceptsRecords else { throw ConfigError("configuration key '\(path)' takes a list of plain names") }
            }
            try key.apply(&config, value)
        }
    }

    /// What a flattened YAML value was: a scalar, a list of names (joined by commas) or a list
    /// of mappings (as a JSON array).
    private enum FlatValue { case scalar, names, records }

    /// Scalars, name lists and lists of mappings become `(path, value, kind)`; the OIDC provider
    /// lists (typed settings of their own) are parsed on their own.
    private static func flatten(_ node: Node, prefix: String, into out: inout [(String, String, FlatValue)],
                                providers: inout [OIDCProviderConfig]) throws {
        if prefix == "auth.oidc" {
            providers += try OIDCProviderConfigParser.providers(node)
            return
        }
        if !prefix.contains("."), OIDCProviderConfigParser.isQuayLoginConfig(prefix) {
            providers.append(try OIDCProviderConfigParser.quayProvider(key: prefix, node))
            return
        }
        switch node {
        case .mapping(let mapping):
            for (k, v) in mapping {
                guard let name = k.string else { throw ConfigError("non-string key under '\(prefix)'") }
                try flatten(v, prefix: prefix.isEmpty ? name : "\(prefix).\(name)", into: &out, providers: &providers)
            }
        case .scalar(let scalar):
            out.append((prefix, scalar.string, .scalar))
        case .sequence(let items) where !items.isEmpty && items.allSatisfy({ $0.mapping != nil }):
            var records: [[String: String]] = []
            for item in items {
                var record: [String: String] = [:]
                for (k, v) in item.mapping! {
                    guard let name = k.string, let value = v.string else {
                        throw ConfigError("configuration key '\(prefix)' takes a list of mappings of plain values")
                    }
                    record[name] = value
                }
                records.append(record)
            }
            let json = try JSONSerialization.data(withJSONObject: records, options: [.sortedKeys])
            out.append((prefix, String(decoding: json, as: UTF8.self), .records))
        case .sequence(let items):
            // Only list keys take one (checked by the caller); items must be plain names.
            var names: [String] = []
            for item in items {
                guard let name = item.string, !name.contains(",") else {
                    throw ConfigError("configuration key '\(prefix)' takes a list of plain names")
                }
                names.append(name)
            }
            out.append((prefix, names.joined(separator: ","), .names))
        case .alias:
            throw ConfigError("configuration key '\(prefix)' uses a YAML alias, which is not supported")
        }
    }

    public static func validate(_ config: SlipwayConfig) throws {
        if config.database.driver == .postgres && config.database.postgresURL.isEmpty {
            throw ConfigError("'database.postgresURL' is required when 'database.driver' is postgres")
        }
        if !config.server.publicURL.isEmpty {
            guard let url = URL(string: config.server.publicURL), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                throw ConfigError("invalid value '\(config.server.publicURL)' for 'server.publicURL': expected an http(s) URL")
            }
        }
        if config.storage.driver == .s3 && config.storage.s3.bucket.isEmpty {
            throw ConfigError("'storage.s3.bucket' is required when 'storage.driver' is s3")
        }
        if !config.storage.s3.endpoint.isEmpty {
            guard let url = URL(string: config.storage.s3.endpoint), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                throw ConfigError("invalid value '\(config.storage.s3.endpoint)' for 'storage.s3.endpoint': expected an http(s) URL")
            }
        }
        try OIDCProviderConfigParser.validate(config.auth.oidc)
        if Logger.Level(rawValue: config.logging.level) == nil {
            throw ConfigError("invalid value '\(config.logging.level)' for 'logging.level'")
        }
    }
}
