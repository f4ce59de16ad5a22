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
        // Checked and split on UTF-8 bytes: a re-match compares every installed package with
        // every advisory range, and Character properties cost more than the comparison itself.
        var rest = Substring(Self.hasOuterSpace(text) ? text.trimmingCharacters(in: .whitespaces) : text)
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
            guard !revision.isEmpty, revision.utf8.allSatisfy(Self.isRevisionByte) else { return nil }
        }
        // Upstream starts with a digit (policy); dpkg itself only warns, and real archives
        // have a few that do not, so only emptiness and stray characters are refused.
        guard !rest.isEmpty, rest.utf8.allSatisfy(Self.isUpstreamByte) else { return nil }
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

    private static func hasOuterSpace(_ text: String) -> Bool {
        guard let first = text.utf8.first, let last = text.utf8.last else { return false }
        // Non-ASCII at either end may be a Unicode space: the full trim decides.
        return first == 0x20 || first == 0x09 || last == 0x20 || last == 0x09 || first >= 0x80 || last >= 0x80
    }

    private static func isAlphanumeric(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
    }

    private static func isUpstreamByte(_ c: UInt8) -> Bool {
        isAlphanumeric(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-")
            || c == UInt8(ascii: "~") || c == UInt8(ascii: ":")
    }

    private static func isRevisionByte(_ c: UInt8) -> Bool {
        isAlphanumeric(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "+") || c == UInt8(ascii: "~")
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
