// Alpine package versions (`1.2.3_rc1-r0`), ordered as apk-tools 2 orders them (its
// `version.c`, ported token for token): numbers split by dots, an optional letter, suffixes
// (`_alpha` < `_beta` < `_pre` < `_rc` < none < `_cvs` < `_svn` < `_git` < `_hg` < `_p`), each
// with an optional number, and `-rN`. A component after a dot that starts with zeros sorts as a
// decimal fraction ("1.01" < "1.1"), as apk does.

public struct ApkVersion: Comparable, Sendable, CustomStringConvertible {
    let bytes: [UInt8]

    public init?(_ text: String) {
        bytes = Array(text.utf8)
        // apk itself would accept a leading letter; no package version starts with one.
        guard let first = bytes.first, first >= 48, first <= 57 else { return nil }
        var cursor = TokenCursor(bytes)
        while cursor.type != .end && cursor.type != .invalid { _ = cursor.next() }
        guard cursor.type == .end else { return nil }
    }

    public var description: String { String(decoding: bytes, as: UTF8.self) }

    public static func < (a: ApkVersion, b: ApkVersion) -> Bool { compare(a.bytes, b.bytes) < 0 }
    public static func == (a: ApkVersion, b: ApkVersion) -> Bool { compare(a.bytes, b.bytes) == 0 }

    /// apk's `apk_version_compare_blob`: -1, 0 or 1.
    static func compare(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var x = TokenCursor(a), y = TokenCursor(b)
        var av: Int64 = 0, bv: Int64 = 0
        while x.type == y.type && x.type != .end && x.type != .invalid && av == bv {
            av = x.next()
            bv = y.next()
        }
        if av < bv { return -1 }
        if av > bv { return 1 }
        if x.type == y.type { return 0 }
        // Equal so far: the longer version is newer, unless what follows is a pre-release suffix.
        if x.type == .suffix, x.peekSuffixValue() < 0 { return -1 }
        if y.type == .suffix, y.peekSuffixValue() < 0 { return 1 }
        if x.type.rawValue > y.type.rawValue { return -1 }
        if y.type.rawValue > x.type.rawValue { return 1 }
        return 0
    }
}

/// apk's token types, in its order (the order matters for the comparison's last step).
enum ApkToken: Int {
    case invalid = -1
    case digitOrZero = 0
    case digit
    case letter
    case suffix
    case suffixNumber
    case revisionNumber
    case end
}

/// apk's `get_token` / `next_token` over one version string.
struct TokenCursor {
    static let preSuffixes = ["alpha", "beta", "pre", "rc"].map { Array($0.utf8) }
    static let postSuffixes = ["cvs", "svn", "git", "hg", "p"].map { Array($0.utf8) }

    let bytes: [UInt8]
    var position = 0
    var type = ApkToken.digit

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    private var remaining: Int { bytes.count - position }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    private static func isLower(_ c: UInt8) -> Bool { c >= 97 && c <= 122 }

    /// The value of the suffix at the cursor without moving it (negative for pre-releases).
    func peekSuffixValue() -> Int64 {
        var copy = self
        return copy.next()
    }

    mutating func next() -> Int64 {
        if remaining <= 0 {
            type = .end
            return 0
        }
        var value: Int64 = 0
        var length = 0
        var nextType = ApkToken.invalid
        switch type {
        case .digitOrZero where bytes[position] == UInt8(ascii: "0"):
            while length < remaining && bytes[position + length] == UInt8(ascii: "0") { length += 1 }
            nextType = .digit
            value = -Int64(length)
        case .digitOrZero, .digit, .suffixNumber, .revisionNumber:
            while length < remaining && Self.isDigit(bytes[position + length]) {
                // Saturate instead of overflowing on absurd numbers: they still order sensibly.
                value = value > Int64.max / 20 ? value : value * 10 + Int64(bytes[position + length] - 48)
                length += 1
            }
        case .letter:
            value = Int64(bytes[position])
            length = 1
        case .suffix:
            if let index = Self.preSuffixes.firstIndex(where: { matches($0) }) {
                length = Self.preSuffixes[index].count
                value = Int64(index - Self.preSuffixes.count)
            } else if let index = Self.postSuffixes.firstIndex(where: { matches($0) }) {
                length = Self.postSuffixes[index].count
                value = Int64(index)
            } else {
                type = .invalid
                return -1
            }
        case .invalid, .end:
            type = .invalid
            return -1
        }
        position += length
        if remaining == 0 {
            type = .end
        } else if nextType != .invalid {
            type = nextType
        } else {
            advanceType()
        }
        return value
    }

    private func matches(_ suffix: [UInt8]) -> Bool {
        suffix.count <= remaining && Array(bytes[position..<position + suffix.count]) == suffix
    }

    /// apk's `next_token`.
    private mutating func advanceType() {
        var n = ApkToken.invalid
        let c = bytes[position]
        if remaining == 0 || c == 0 {
            n = .end
        } else if (type == .digit || type == .digitOrZero) && Self.isLower(c) {
            n = .letter
        } else if type == .letter && Self.isDigit(c) {
            n = .digit
        } else if type == .suffix && Self.isDigit(c) {
            n = .suffixNumber
        } else {
            switch c {
            case UInt8(ascii: "."): n = .digitOrZero
            case UInt8(ascii: "_"): n = .suffix
            case UInt8(ascii: "-"):
                if remaining > 1 && bytes[position + 1] == UInt8(ascii: "r") {
                    n = .revisionNumber
                    position += 1
                }
            default: break
            }
            position += 1
        }
        if n.rawValue < type.rawValue {
            if !((n == .digitOrZero && type == .digit) || (n == .suffix && type == .suffixNumber)
                 || (n == .digit && type == .letter)) {
                n = .invalid
            }
        }
        type = n
    }
}
