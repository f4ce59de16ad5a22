import Foundation
import Yams

/// Reads `auth.oidc` (a YAML list of provider mappings) and Quay's `<SERVICE>_LOGIN_CONFIG`
/// mappings into `OIDCProviderConfig`s. These are the only structured (non-scalar) settings, so
/// they are taken out of the YAML before the flat keys are applied.
///
/// Quay's shape (`KEYCLOAK_LOGIN_CONFIG: {CLIENT_ID, CLIENT_SECRET, OIDC_SERVER, SERVICE_NAME,
/// LOGIN_SCOPES, PREFERRED_GROUP_CLAIM_NAME}`) is accepted as written; its `OIDC_SERVER` ends in
/// `/` while the issuer does not, so the slash is dropped.
enum OIDCProviderConfigParser {
    static let fields: Set<String> = ["name", "issuer", "clientID", "clientSecret", "scopes", "usernameClaim", "emailClaim", "groupsClaim"]

    /// `auth.oidc: [{name, issuer, clientID, ...}, ...]`.
    static func providers(_ node: Node) throws(ConfigError) -> [OIDCProviderConfig] {
        guard case .sequence(let items) = node else { throw ConfigError("'auth.oidc' must be a list of providers") }
        var out: [OIDCProviderConfig] = []
        for (index, item) in items.enumerated() {
            let at = "auth.oidc[\(index)]"
            guard case .mapping(let mapping) = item else { throw ConfigError("'\(at)' must be a mapping of name, issuer, clientID, ...") }
            var values: [String: Node] = [:]
            for (k, v) in mapping {
                guard let key = k.string, fields.contains(key) else {
                    throw ConfigError("unknown key '\(k.string ?? "?")' in '\(at)': expected \(fields.sorted().joined(separator: ", "))")
                }
                values[key] = v
            }
            func string(_ key: String) throws(ConfigError) -> String? {
                guard let node = values[key] else { return nil }
                guard let s = node.string else { throw ConfigError("'\(at).\(key)' must be a string") }
                return s
            }
            guard let name = try string("name"), let issuer = try string("issuer"), let clientID = try string("clientID") else {
                throw ConfigError("'\(at)' needs name, issuer and clientID")
            }
            var provider = OIDCProviderConfig(name: name, issuer: issuer, clientID: clientID, clientSecret: try string("clientSecret") ?? "")
            if let scopes = values["scopes"] { provider.scopes = try list(scopes, at: "\(at).scopes") }
            if let v = try string("usernameClaim") { provider.usernameClaim = v }
            if let v = try string("emailClaim") { provider.emailClaim = v }
            if let v = try string("groupsClaim") { provider.groupsClaim = v }
            out.append(provider)
        }
        return out
    }

    /// Quay's `<SERVICE>_LOGIN_CONFIG` with an `OIDC_SERVER`: one provider named after the service.
    static func quayProvider(key: String, _ node: Node) throws(ConfigError) -> OIDCProviderConfig {
        guard case .mapping(let mapping) = node else { throw ConfigError("'\(key)' must be a mapping") }
        var values: [String: Node] = [:]
        for (k, v) in mapping { if let name = k.string { values[name] = v } }
        guard let server = values["OIDC_SERVER"]?.string, let clientID = values["CLIENT_ID"]?.string else {
            throw ConfigError("'\(key)' needs OIDC_SERVER and CLIENT_ID")
        }
        let service = values["SERVICE_NAME"]?.string ?? String(key.dropLast("_LOGIN_CONFIG".count))
        let name = String(service.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
        let issuer = server.hasSuffix("/") ? String(server.dropLast()) : server
        var provider = OIDCProviderConfig(name: name, issuer: issuer, clientID: clientID, clientSecret: values["CLIENT_SECRET"]?.string ?? "")
        if let scopes = values["LOGIN_SCOPES"] { provider.scopes = try list(scopes, at: "\(key).LOGIN_SCOPES") }
        if let groups = values["PREFERRED_GROUP_CLAIM_NAME"]?.string { provider.groupsClaim = groups }
        return provider
    }

    static func isQuayLoginConfig(_ key: String) -> Bool {
        key.hasSuffix("_LOGIN_CONFIG") && key.count > "_LOGIN_CONFIG".count
    }

    /// A YAML list of strings, or one space/comma-separated string.
    private static func list(_ node: Node, at path: String) throws(ConfigError) -> [String] {
        if case .sequence(let items) = node {
            var out: [String] = []
            for item in items {
                guard let s = item.string else { throw ConfigError("'\(path)' must be a list of strings") }
                out.append(s)
            }
            return out
        }
        guard let s = node.string else { throw ConfigError("'\(path)' must be a list of strings") }
        return s.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
    }

    /// Start-up checks: names unique and usable in URLs, issuers http(s), a client id each.
    static func validate(_ providers: [OIDCProviderConfig]) throws(ConfigError) {
        var seen = Set<String>()
        for p in providers {
            guard OIDCProviderConfig.isValidName(p.name) else {
                throw ConfigError("invalid OIDC provider name '\(p.name)': use 1-32 lower-case letters, digits and '-'")
            }
            guard seen.insert(p.name).inserted else { throw ConfigError("OIDC provider name '\(p.name)' is used twice") }
            guard let url = URL(string: p.issuer), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                throw ConfigError("invalid issuer '\(p.issuer)' for OIDC provider '\(p.name)': expected an http(s) URL")
            }
            guard !p.clientID.isEmpty else { throw ConfigError("OIDC provider '\(p.name)' needs a clientID") }
            guard p.scopes.contains("openid") else { throw ConfigError("the scopes of OIDC provider '\(p.name)' must include openid") }
        }
    }
}
