import Foundation

// Debian package versions, `[epoch:]upstream[-revision]`, ordered as dpkg orders them
// (deb-version(7)): the epoch numerically, then upstream and revision by alternating runs of
// non-digits (compared character by character, `~` before everything, even the end of the string,
// letters before other characters) and digits (compared as numbers).

public struct DpkgVersion: Comparable, Sendable, CustomStringConvertible {
    public let epoch: Int
    public let upstream: String
    public let revision: String

    public init?(_ text: String) {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        var epoch = 0
        if let colon = rest.firstIndex(of: ":") {
            guard let value = Int(rest[..<colon]), value >= 0 else { return nil }
            epoch = value
            rest = rest[rest.index(after: colon)...]
        }
        var revision: Substring = ""
        if let dash = rest.lastIndex(of: "-") {
            revision = rest[rest.index(after: dash)...]
            rest = rest[..<dash]
            guard !revision.isEmpty, revision.allSatisfy(Self.isRevisionCharacter) else { return nil }
        }
        // Upstream starts with a digit (policy); dpkg itself only warns, and real archives
        // have a few that do not, so only emptiness and stray characters are refused.
        guard !rest.isEmpty, rest.allSatisfy(Self.isUpstreamCharacter) else { return nil }
        self.epoch = epoch
        self.upstream = String(rest)
        self.revision = String(revision)
    }

    public var description: String {
        (epoch > 0 ? "\(epoch):" : "") + upstream + (revision.isEmpty ? "" : "-" + revision)
    }

    public static func < (a: DpkgVersion, b: DpkgVersion) -> Bool {
        if a.epoch != b.epoch { return a.epoch < b.epoch }
        let upstream = compareFragments(Array(a.upstream.utf8), Array(b.upstream.utf8))
        if upstream != 0 { return upstream < 0 }
        return compareFragments(Array(a.revision.utf8), Array(b.revision.utf8)) < 0
    }

    public static func == (a: DpkgVersion, b: DpkgVersion) -> Bool {
        !(a < b) && !(b < a)
    }

    private static func isUpstreamCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || ".+-~:".contains(c))
    }

    private static func isRevisionCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || ".+~".contains(c))
    }

    /// dpkg's `order()`: where a character sorts in a non-digit run; 0 is the end of the string.
    private static func order(_ c: UInt8?) -> Int {
        guard let c else { return 0 }
        if isDigit(c) { return 0 }
        if (c >= 65 && c <= 90) || (c >= 97 && c <= 122) { return Int(c) }
        if c == UInt8(ascii: "~") { return -1 }
        return Int(c) + 256
    }

    private static func isDigit(_ c: UInt8?) -> Bool {
        guard let c else { return false }
        return c >= 48 && c <= 57
    }

    /// dpkg's `verrevcmp()`.
    static func compareFragments(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var i = 0, j = 0
        func at(_ s: [UInt8], _ k: Int) -> UInt8? { k < s.count ? s[k] : nil }
        while i < a.count || j < b.count {
            while (at(a, i) != nil && !isDigit(at(a, i))) || (at(b, j) != nil && !isDigit(at(b, j))) {
                let ac = order(at(a, i)), bc = order(at(b, j))
                if ac != bc { return ac - bc }
                i += 1
                j += 1
            }
            while at(a, i) == UInt8(ascii: "0") { i += 1 }
            while at(b, j) == UInt8(ascii: "0") { j += 1 }
            var firstDifference = 0
            while isDigit(at(a, i)) && isDigit(at(b, j)) {
                if firstDifference == 0 { firstDifference = Int(a[i]) - Int(b[j]) }
                i += 1
                j += 1
            }
            if isDigit(at(a, i)) { return 1 }
            if isDigit(at(b, j)) { return -1 }
            if firstDifference != 0 { return firstDifference }
        }
        return 0
    }
}
