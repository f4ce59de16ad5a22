import Foundation

/// How build steps are isolated from the worker: `rootless` runs the builder as an unprivileged
/// build user whose `RUN` steps live in a user, mount and PID namespace of their own; `chroot`
/// (buildah's chroot isolation as the worker's own user) shares the worker's process table and
/// is no security boundary; `oci` is buildah's runc isolation as the worker's user.
public enum BuildIsolation: String, Sendable, Equatable, CaseIterable, Codable {
    case rootless
    case chroot
    case oci
}

/// Resource limits of a build; 0 leaves that resource unlimited. `timeoutSeconds` (0: the
/// server's `builds.timeoutSeconds`) never exceeds the server's bound.
public struct BuildResourceLimits: Sendable, Equatable {
    public var cpuMillicores = 0
    public var memoryBytes: Int64 = 0
    public var pids = 0
    public var timeoutSeconds = 0

    public init(cpuMillicores: Int = 0, memoryBytes: Int64 = 0, pids: Int = 0, timeoutSeconds: Int = 0) {
        self.cpuMillicores = cpuMillicores
        self.memoryBytes = memoryBytes
        self.pids = pids
        self.timeoutSeconds = timeoutSeconds
    }
}

/// One `builds.namespaceLimits` entry: the limits of one namespace's builds, each field
/// replacing the server's default for that resource when given.
public struct NamespaceBuildLimits: Sendable, Equatable {
    public var namespace: String
    public var cpuMillicores: Int?
    public var memoryBytes: Int64?
    public var pids: Int?
    public var timeoutSeconds: Int?

    public init(namespace: String, cpuMillicores: Int? = nil, memoryBytes: Int64? = nil, pids: Int? = nil, timeoutSeconds: Int? = nil) {
        self.namespace = namespace
        self.cpuMillicores = cpuMillicores
        self.memoryBytes = memoryBytes
        self.pids = pids
        self.timeoutSeconds = timeoutSeconds
    }

    static let fields: Set<String> = ["namespace", "cpuMillicores", "memoryBytes", "pids", "timeoutSeconds"]

    /// Parses the records of `builds.namespaceLimits` (values arrive as strings).
    static func parse(_ records: [[String: String]], path: String) throws(ConfigError) -> [NamespaceBuildLimits] {
        var seen: Set<String> = []
        var out: [NamespaceBuildLimits] = []
        for record in records {
            if let unknown = record.keys.first(where: { !fields.contains($0) }) {
                throw ConfigError("invalid value for '\(path)': unknown field '\(unknown)'; expected \(fields.sorted().joined(separator: ", "))")
            }
            guard let namespace = record["namespace"], !namespace.isEmpty else {
                throw ConfigError("invalid value for '\(path)': every entry needs a namespace")
            }
            guard seen.insert(namespace).inserted else {
                throw ConfigError("invalid value for '\(path)': namespace '\(namespace)' is listed twice")
            }
            func number(_ field: String, max: Int64) throws(ConfigError) -> Int64? {
                guard let text = record[field] else { return nil }
                guard let value = Int64(text.trimmingCharacters(in: .whitespaces)), value >= 0, value <= max else {
                    throw ConfigError("invalid value '\(text)' for '\(path)' field \(field) of namespace '\(namespace)': expected an integer from 0 to \(max)")
                }
                return value
            }
            out.append(NamespaceBuildLimits(
                namespace: namespace,
                cpuMillicores: try number("cpuMillicores", max: 1_024_000).map(Int.init),
                memoryBytes: try number("memoryBytes", max: 1 << 50),
                pids: try number("pids", max: 4_194_304).map(Int.init),
                timeoutSeconds: try number("timeoutSeconds", max: 86_400).map(Int.init)))
        }
        return out
    }
}

extension SlipwayConfig.Builds {
    /// The limits a build of `namespace` runs with: the namespace's entry over the defaults, its
    /// wall time capped by `timeoutSeconds`.
    public func limits(forNamespace namespace: String) -> BuildResourceLimits {
        var limits = self.limits
        if let entry = namespaceLimits.first(where: { $0.namespace == namespace }) {
            if let v = entry.cpuMillicores { limits.cpuMillicores = v }
            if let v = entry.memoryBytes { limits.memoryBytes = v }
            if let v = entry.pids { limits.pids = v }
            if let v = entry.timeoutSeconds { limits.timeoutSeconds = v }
        }
        limits.timeoutSeconds = limits.timeoutSeconds > 0 ? min(limits.timeoutSeconds, timeoutSeconds) : timeoutSeconds
        return limits
    }
}
