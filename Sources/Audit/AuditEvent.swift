import SlipwayCore

/// One usage-log entry (Quay's "action logs"): who did what, where, from which address.
/// Performer, namespace and repository are copied by value (id and name), so the entry still
/// reads after they are renamed or deleted; the registry's conveniences build them from its
/// accounts and repositories.
public struct AuditEvent: Sendable {
    public struct Actor: Sendable {
        public let id: Int64?
        public let name: String
        public let kind: String  // user | robot | anonymous | token
        public init(id: Int64?, name: String, kind: String) {
            self.id = id
            self.name = name
            self.kind = kind
        }
    }

    public var kind: AuditKind
    public var performer: Actor?
    public var namespace: (id: Int64, name: String)?
    public var repository: (id: Int64, name: String)?
    public var ip: String?
    public var metadata: [String: String]
    public var time: Int64

    public init(kind: AuditKind, performer: Actor?, namespace: (id: Int64, name: String)? = nil, repository: (id: Int64, name: String)? = nil,
                ip: String?, metadata: [String: String] = [:], time: Int64? = nil) {
        self.kind = kind
        self.performer = performer
        self.namespace = namespace
        self.repository = repository
        self.ip = ip
        self.metadata = metadata
        self.time = time ?? Clock.nowMillis()
    }
}
