import SlipwayCore

/// An entry in Quay's JSON shape: what `GET .../logs` lists and what a log export's file holds,
/// so both stay the same on the wire. A robot performer is shown as a user with `is_robot`.
public struct UsageLogView: Encodable, Sendable {
    public struct Performer: Encodable, Sendable { let kind: String; let name: String; let is_robot: Bool; let avatar: [String: String] }
    let kind: String
    let metadata: [String: String]
    let ip: String?
    let datetime: String
    let performer: Performer?
    let namespace: [String: String]?

    public init(_ e: UsageLogEntry) {
        kind = e.kind
        metadata = e.metadata
        ip = e.ip
        datetime = APIDates.rfc2822(millis: e.createdAt)
        performer = e.performerName.map { .init(kind: e.performerKind == "robot" ? "user" : (e.performerKind ?? "user"), name: $0,
                                                is_robot: e.performerKind == "robot", avatar: ["name": $0]) }
        namespace = e.namespaceName.map { ["kind": "org", "name": $0] }
    }
}
