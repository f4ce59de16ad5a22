// Advisories looked up by (namespace, package name): matching an image is one dictionary
// lookup per package, so re-matching every scanned manifest after a feed update reads no layer
// and costs little.

public struct AdvisoryIndex: Sendable {
    struct Key: Hashable, Sendable {
        let namespace: String
        let name: String
    }

    public struct Candidate: Sendable {
        public let advisory: Advisory
        public let affected: AffectedPackage
    }

    private var byPackage: [Key: [Candidate]] = [:]
    public private(set) var count = 0

    public init(_ advisories: [Advisory] = []) {
        for advisory in advisories { add(advisory) }
    }

    public mutating func add(_ advisory: Advisory) {
        count += 1
        for affected in advisory.affected {
            byPackage[Key(namespace: affected.namespace.name, name: affected.name), default: []]
                .append(Candidate(advisory: advisory, affected: affected))
        }
    }

    func candidates(_ package: IndexedPackage) -> [Candidate] {
        byPackage[Key(namespace: package.namespace.name, name: package.name)] ?? []
    }
}
