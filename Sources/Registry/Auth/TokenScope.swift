import Accounts

/// A scope requested from the token endpoint: `repository:<name>:<actions>` or
/// `registry:catalog:*`.
public enum TokenScope: Sendable, Equatable {
    case repository(name: String, path: RepositoryPath, actions: Set<RegistryAction>)
    case catalog

    /// Parses one `scope=` value. Unknown actions are ignored (down-scoping), malformed scopes throw.
    public init(parsing text: String, serviceHost: String?) throws(RegistryError) {
        if text == "registry:catalog:*" {
            self = .catalog
            return
        }
        guard text.hasPrefix("repository:"), let lastColon = text.lastIndex(of: ":") else {
            throw RegistryError(.invalidRequest, "invalid scope '\(text.prefix(200))': expected repository:<name>:<actions>")
        }
        let nameStart = text.index(text.startIndex, offsetBy: "repository:".count)
        guard nameStart <= lastColon else {
            throw RegistryError(.invalidRequest, "invalid scope '\(text.prefix(200))': expected repository:<name>:<actions>")
        }
        var name = String(text[nameStart..<lastColon])
        if let serviceHost, name.hasPrefix(serviceHost + "/") {
            name = String(name.dropFirst(serviceHost.count + 1))
        }
        let actionText = text[text.index(after: lastColon)...]
        var actions = Set<RegistryAction>()
        for part in actionText.split(separator: ",") {
            if let a = RegistryAction(rawValue: String(part)) { actions.insert(a) }
        }
        if actions.isEmpty {
            throw RegistryError(.invalidRequest, "invalid scope '\(text.prefix(200))': actions must be pull, push or *")
        }
        let path = try RepositoryPath(parsing: name)
        self = .repository(name: name, path: path, actions: actions)
    }
}
