import BuildProtocol
import Foundation
import Registry
import SQLKit

/// The ssh host keys a trigger's clones trust, as stored in `build_triggers.ssh_host_keys`.
/// `keys` empty with an `error`: the last attempt to read the key failed, nothing is trusted.
struct PinnedHostKeys: Codable, Sendable, Equatable {
    enum Source: String, Codable, Sendable {
        /// Read from the git server when the trigger was analysed, activated or changed.
        case scanned
        /// Lines of `known_hosts` the user gave.
        case pasted
        /// A new key the user accepted (`POST .../hostkeys`).
        case accepted
        /// Read by the server for the trigger's first build (nothing was recorded before).
        case firstBuild = "first_build"
    }

    /// `host:port` the keys belong to.
    var endpoint: String
    var keys: [SSHHostKey]
    var source: Source?
    var recordedAt: Int64
    var error: String?

    enum CodingKeys: String, CodingKey {
        case endpoint, keys, source, error
        case recordedAt = "recorded_at"
    }

    var isTrusting: Bool { !keys.isEmpty }

    init(endpoint: String, keys: [SSHHostKey], source: Source?, recordedAt: Int64 = Clock.nowMillis(), error: String? = nil) {
        self.endpoint = endpoint
        self.keys = keys
        self.source = source
        self.recordedAt = recordedAt
        self.error = error
    }

    init?(json: String) {
        guard let value = try? JSONDecoder().decode(PinnedHostKeys.self, from: Data(json.utf8)) else { return nil }
        self = value
    }

    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// The trigger view's `ssh_host_keys`.
    var view: EventValue {
        .object([
            "endpoint": .string(endpoint),
            "status": .string(isTrusting ? "recorded" : "not_recorded"),
            "source": source.map { .string($0.rawValue) } ?? .null,
            "recorded": .string(APIDates.rfc2822(millis: recordedAt)),
            "keys": .array(keys.map { .object(["type": .string($0.type), "key": .string($0.key), "fingerprint": .string($0.fingerprint)]) }),
            "known_hosts": .strings(keys.map { "\(Self.knownHostsName(endpoint)) \($0.type) \($0.key)" }),
            "message": error.map { .string("the server could not read the host key: \($0); the first build reads it again, "
                                           + "or paste known_hosts lines") } ?? .null,
        ])
    }

    /// The host field of a known_hosts line: `host` on port 22, `[host]:port` otherwise.
    static func knownHostsName(_ endpoint: String) -> String {
        guard let colon = endpoint.lastIndex(of: ":") else { return endpoint }
        let host = endpoint[..<colon]
        let port = endpoint[endpoint.index(after: colon)...]
        if port == "22" { return host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : String(host) }
        return host.hasPrefix("[") ? "\(host):\(port)" : "[\(host)]:\(port)"
    }
}

extension MetadataStore {
    /// Replaces a trigger's pinned host keys (nil forgets them).
    func setTriggerHostKeys(id: Int64, _ keys: PinnedHostKeys?) async throws {
        try await database.transaction { db in
            try await db.raw("UPDATE build_triggers SET ssh_host_keys = \(bind: keys?.json) WHERE id = \(bind: id)").run()
        }
    }

    /// Records keys only if the stored ones are still `expected` (a first build racing an
    /// accept must not overwrite it). Returns false when they changed meanwhile.
    func replaceTriggerHostKeys(id: Int64, expected: PinnedHostKeys?, with keys: PinnedHostKeys) async throws -> Bool {
        try await database.transaction { db in
            if let expected {
                return try await db.raw("""
                    UPDATE build_triggers SET ssh_host_keys = \(bind: keys.json)
                    WHERE id = \(bind: id) AND ssh_host_keys = \(bind: expected.json) RETURNING id
                    """).first() != nil
            }
            return try await db.raw("""
                UPDATE build_triggers SET ssh_host_keys = \(bind: keys.json) WHERE id = \(bind: id) AND ssh_host_keys IS NULL RETURNING id
                """).first() != nil
        }
    }
}
