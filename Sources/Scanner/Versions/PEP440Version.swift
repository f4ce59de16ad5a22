// Python package versions (PEP 440), normalised and ordered as `packaging.version` does:
// `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, with the spellings PEP 440 accepts (alpha,
// beta, c, pre, preview, rev, r, `-N` post releases, `.`/`-`/`_` separators, a leading `v`,
// any case). Trailing zeros of the release do not count ("1.0" == "1"); a dev release sorts
// before its pre-releases, a post release after the release; a local version after the public
// one it extends.

import Foundation

public struct PEP440Version: Comparable, Sendable, CustomStringConvertible {
    public enum PreRelease: Int, Sendable { case alpha = 0, beta, candidate }

    public let epoch: Int
    public let release: [Int]
    public let pre: (kind: PreRelease, number: Int)?
    public let post: Int?
    public let dev: Int?
    /// Local segments; each is a number or a lower-case word.
    public let local: [LocalSegment]?

    public enum LocalSegment: Sendable, Equatable {
        case number(Int)
        case word(String)

        var text: String {
            switch self {
            case .number(let n): String(n)
            case .word(let w): w
            }
        }
    }

    public init?(_ text: String) {
        var scanner = VersionScanner(text.trimmingCharacters(in: .whitespaces).lowercased())
        _ = scanner.take("v")
        var epoch = 0
        let checkpoint = scanner.position
        if let n = scanner.number(), scanner.take("!") {
            epoch = n
        } else {
            scanner.position = checkpoint
        }
        guard let first = scanner.number() else { return nil }
        var release = [first]
        while true {
            let before = scanner.position
            guard scanner.take("."), let n = scanner.number() else {
                scanner.position = before
                break
            }
            release.append(n)
        }
        self.epoch = epoch
        self.release = release
        pre = Self.preRelease(&scanner)
        post = Self.postRelease(&scanner)
        dev = Self.devRelease(&scanner)
        if scanner.take("+") {
            var segments: [LocalSegment] = []
            repeat {
                guard let word = scanner.alphanumerics() else { return nil }
                segments.append(Int(word).map(LocalSegment.number) ?? .word(word))
            } while scanner.takeSeparator()
            local = segments
        } else {
            local = nil
        }
        guard scanner.atEnd else { return nil }
    }

    private static func preRelease(_ s: inout VersionScanner) -> (kind: PreRelease, number: Int)? {
        let start = s.position
        _ = s.takeSeparator()
        let labels: [(String, PreRelease)] = [("preview", .candidate), ("alpha", .alpha), ("beta", .beta),
                                              ("pre", .candidate), ("rc", .candidate), ("a", .alpha),
                                              ("b", .beta), ("c", .candidate)]
        guard let (_, kind) = labels.first(where: { s.take($0.0) }) else {
            s.position = start
            return nil
        }
        return (kind, s.optionalNumber())
    }

    private static func postRelease(_ s: inout VersionScanner) -> Int? {
        let start = s.position
        if s.take("-"), let n = s.number() { return n }
        s.position = start
        _ = s.takeSeparator()
        guard ["post", "rev", "r"].contains(where: { s.take($0) }) else {
            s.position = start
            return nil
        }
        return s.optionalNumber()
    }

    private static func devRelease(_ s: inout VersionScanner) -> Int? {
        let start = s.position
        _ = s.takeSeparator()
        guard s.take("dev") else {
            s.position = start
            return nil
        }
        return s.optionalNumber()
    }

    public var description: String {
        var text = epoch > 0 ? "\(epoch)!" : ""
        text += release.map(String.init).joined(separator: ".")
        if let pre { text += ["a", "b", "rc"][pre.kind.rawValue] + String(pre.number) }
        if let post { text += ".post\(post)" }
        if let dev { text += ".dev\(dev)" }
        if let local {
            text += "+" + local.map(\.text).joined(separator: ".")
        }
        return text
    }

    /// `packaging`'s comparison key.
    private var key: [KeyPart] {
        var trimmed = release
        while trimmed.count > 1, trimmed.last == 0 { trimmed.removeLast() }
        var parts: [KeyPart] = [.value(epoch), .list(trimmed.map(KeyPart.value))]
        if pre == nil && post == nil && dev != nil {
            parts.append(.lowest)
        } else if let pre {
            parts.append(.list([.value(pre.kind.rawValue), .value(pre.number)]))
        } else {
            parts.append(.highest)
        }
        parts.append(post.map(KeyPart.value) ?? .lowest)
        parts.append(dev.map(KeyPart.value) ?? .highest)
        if let local {
            parts.append(.list(local.map {
                switch $0 {
                case .number(let n): .list([.highest, .value(n)])
                case .word(let w): .list([.lowest, .word(w)])
                }
            }))
        } else {
            parts.append(.lowest)
        }
        return parts
    }

    public static func < (a: PEP440Version, b: PEP440Version) -> Bool { KeyPart.list(a.key) < KeyPart.list(b.key) }
    public static func == (a: PEP440Version, b: PEP440Version) -> Bool { KeyPart.list(a.key) == KeyPart.list(b.key) }
}

/// A piece of a sort key with explicit infinities (packaging's Infinity / NegativeInfinity).
indirect enum KeyPart: Comparable {
    case lowest
    case value(Int)
    case word(String)
    case list([KeyPart])
    case highest

    static func < (a: KeyPart, b: KeyPart) -> Bool {
        switch (a, b) {
        case (.lowest, .lowest), (.highest, .highest): return false
        case (.lowest, _), (_, .highest): return true
        case (_, .lowest), (.highest, _): return false
        case let (.value(x), .value(y)): return x < y
        case let (.word(x), .word(y)): return x < y
        case let (.list(x), .list(y)): return x.lexicographicallyPrecedes(y)
        // Mixed kinds do not occur in one position of a key; order them by kind for totality.
        default: return a.rank < b.rank
        }
    }

    private var rank: Int {
        switch self {
        case .lowest: 0
        case .value: 1
        case .word: 2
        case .list: 3
        case .highest: 4
        }
    }
}

/// A cursor over an ASCII version string.
struct VersionScanner {
    let bytes: [UInt8]
    var position = 0

    init(_ text: String) { bytes = Array(text.utf8) }

    var atEnd: Bool { position == bytes.count }

    mutating func take(_ literal: String) -> Bool {
        let l = Array(literal.utf8)
        guard position + l.count <= bytes.count, Array(bytes[position..<position + l.count]) == l else { return false }
        position += l.count
        return true
    }

    mutating func takeSeparator() -> Bool {
        guard position < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_")].contains(bytes[position]) else { return false }
        position += 1
        return true
    }

    /// Digits as a number; nil when there are none (or too many to be a version number).
    mutating func number() -> Int? {
        let start = position
        while position < bytes.count, bytes[position] >= 48, bytes[position] <= 57 { position += 1 }
        guard position > start, let n = Int(String(decoding: bytes[start..<position], as: UTF8.self)) else {
            position = start
            return nil
        }
        return n
    }

    /// An optional separator and number after a pre/post/dev label; 0 when absent.
    mutating func optionalNumber() -> Int {
        let start = position
        _ = takeSeparator()
        if let n = number() { return n }
        position = start
        return 0
    }

    mutating func alphanumerics() -> String? {
        let start = position
        while position < bytes.count, (bytes[position] >= 48 && bytes[position] <= 57) || (bytes[position] >= 97 && bytes[position] <= 122) {
            position += 1
        }
        return position > start ? String(decoding: bytes[start..<position], as: UTF8.self) : nil
    }
}
