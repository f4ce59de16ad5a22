// Semantic versions (semver 2.0.0) as Go modules and npm use them: `MAJOR.MINOR.PATCH`, an
// optional pre-release (dot-separated identifiers: numbers numerically and below words, a
// shorter list below a longer one it begins) and build metadata, which does not order. A
// leading `v` (Go) is accepted; missing minor or patch numbers count as 0 ("v1.2" is 1.2.0), as
// feeds write them. Go pseudo-versions (`v0.0.0-20210101000000-abcdef123456`) are pre-releases
// and order by their timestamp, as Go orders them.

public struct SemanticVersion: Comparable, Sendable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    public let patch: Int
    public let preRelease: [Identifier]

    public enum Identifier: Comparable, Sendable {
        case number(Int)
        case word(String)

        public static func < (a: Identifier, b: Identifier) -> Bool {
            switch (a, b) {
            case let (.number(x), .number(y)): x < y
            case let (.word(x), .word(y)): Array(x.utf8).lexicographicallyPrecedes(Array(y.utf8))
            case (.number, .word): true
            case (.word, .number): false
            }
        }

        var text: String {
            switch self {
            case .number(let n): String(n)
            case .word(let w): w
            }
        }
    }

    public init?(_ text: String) {
        var rest = Substring(text)
        if rest.first == "v" { rest = rest.dropFirst() }
        if let plus = rest.firstIndex(of: "+") {
            let build = rest[rest.index(after: plus)...]
            guard Self.identifiersValid(build) else { return nil }
            rest = rest[..<plus]
        }
        var pre: Substring?
        if let dash = rest.firstIndex(of: "-") {
            pre = rest[rest.index(after: dash)...]
            rest = rest[..<dash]
        }
        let numbers = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...3).contains(numbers.count) else { return nil }
        var parsed: [Int] = []
        for n in numbers {
            guard !n.isEmpty, n.allSatisfy(\.isASCIINumber), let value = Int(n) else { return nil }
            parsed.append(value)
        }
        while parsed.count < 3 { parsed.append(0) }
        (major, minor, patch) = (parsed[0], parsed[1], parsed[2])
        if let pre {
            guard Self.identifiersValid(pre) else { return nil }
            preRelease = pre.split(separator: ".").map { part in
                part.allSatisfy(\.isASCIINumber) ? Int(part).map(Identifier.number) ?? .word(String(part)) : .word(String(part))
            }
        } else {
            preRelease = []
        }
    }

    private static func identifiersValid(_ text: Substring) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return !parts.isEmpty && parts.allSatisfy { part in
            !part.isEmpty && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }

    public var description: String {
        "\(major).\(minor).\(patch)" + (preRelease.isEmpty ? "" : "-" + preRelease.map(\.text).joined(separator: "."))
    }

    public static func < (a: SemanticVersion, b: SemanticVersion) -> Bool {
        if (a.major, a.minor, a.patch) != (b.major, b.minor, b.patch) {
            return (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
        }
        // A release is newer than any of its pre-releases.
        if a.preRelease.isEmpty || b.preRelease.isEmpty { return !a.preRelease.isEmpty && b.preRelease.isEmpty }
        return a.preRelease.lexicographicallyPrecedes(b.preRelease)
    }

    public static func == (a: SemanticVersion, b: SemanticVersion) -> Bool {
        !(a < b) && !(b < a)
    }
}

extension Character {
    var isASCIINumber: Bool { isASCII && isNumber }
}
