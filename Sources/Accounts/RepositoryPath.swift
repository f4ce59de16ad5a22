/// `namespace/name` as used on the wire. A single-segment name lives in the `library` namespace,
/// as in Quay.
public struct RepositoryPath: Hashable, Sendable, CustomStringConvertible {
    public static let libraryNamespace = "library"

    public let namespace: String
    public let name: String

    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    public var description: String { "\(namespace)/\(name)" }
}
