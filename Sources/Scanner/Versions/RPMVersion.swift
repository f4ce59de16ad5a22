// RPM versions, `[epoch:]version[-release]`, ordered as rpm's `rpmvercmp` orders each part:
// runs of digits (numerically) and letters (as strings) with separators ignored, a digit run
// newer than a letter run, `~` older than anything (pre-releases) and `^` newer than the end
// of the string but older than anything else (snapshots after a release). A missing epoch is
// 0 and a missing release is empty, as in rpm's own EVR comparison (`rpm.vercmp`): "1.0" is
// older than "1.0-1".

public struct RPMVersion: Comparable, Sendable, CustomStringConvertible {
    public let epoch: Int
    public let version: String
    /// Empty when the version names none.
    public let release: String

    public init?(_ text: String) {
        var rest = Substring(text)
        var epoch = 0
        if let colon = rest.firstIndex(of: ":") {
            guard let value = Int(rest[..<colon]), value >= 0 else { return nil }
            epoch = value
            rest = rest[rest.index(after: colon)...]
        }
        var release: Substring?
        if let dash = rest.lastIndex(of: "-") {
            release = rest[rest.index(after: dash)...]
            rest = rest[..<dash]
        }
        guard !rest.isEmpty, release.map({ !$0.isEmpty }) ?? true,
              text.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else { return nil }
        self.epoch = epoch
        self.version = String(rest)
        self.release = release.map(String.init) ?? ""
    }

    public var description: String {
        (epoch > 0 ? "\(epoch):" : "") + version + (release.isEmpty ? "" : "-" + release)
    }

    static func order(_ a: RPMVersion, _ b: RPMVersion) -> Int {
        if a.epoch != b.epoch { return a.epoch < b.epoch ? -1 : 1 }
        let version = compareSegments(Array(a.version.utf8), Array(b.version.utf8))
        if version != 0 { return version }
        return compareSegments(Array(a.release.utf8), Array(b.release.utf8))
    }

    public static func < (a: RPMVersion, b: RPMVersion) -> Bool { order(a, b) < 0 }
    public static func == (a: RPMVersion, b: RPMVersion) -> Bool { order(a, b) == 0 }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    private static func isAlpha(_ c: UInt8) -> Bool { (c >= 65 && c <= 90) || (c >= 97 && c <= 122) }

    /// rpm's `rpmvercmp`: -1, 0 or 1.
    static func compareSegments(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a == b { return 0 }
        var i = 0, j = 0
        let tilde = UInt8(ascii: "~"), caret = UInt8(ascii: "^")
        func at(_ s: [UInt8], _ k: Int) -> UInt8? { k < s.count ? s[k] : nil }
        func isSeparator(_ c: UInt8) -> Bool { !isDigit(c) && !isAlpha(c) && c != tilde && c != caret }
        while i < a.count || j < b.count {
            while let c = at(a, i), isSeparator(c) { i += 1 }
            while let c = at(b, j), isSeparator(c) { j += 1 }
            let x = at(a, i), y = at(b, j)
            if x == tilde || y == tilde {
                if x != tilde { return 1 }
                if y != tilde { return -1 }
                i += 1
                j += 1
                continue
            }
            if x == caret || y == caret {
                if x == nil { return -1 }
                if y == nil { return 1 }
                if x != caret { return 1 }
                if y != caret { return -1 }
                i += 1
                j += 1
                continue
            }
            guard let first = x, y != nil else { break }
            let numeric = isDigit(first)
            func belongs(_ c: UInt8) -> Bool { numeric ? isDigit(c) : isAlpha(c) }
            var endA = i, endB = j
            while let c = at(a, endA), belongs(c) { endA += 1 }
            while let c = at(b, endB), belongs(c) { endB += 1 }
            // A numeric run is newer than a letter run in the same place.
            if endB == j { return numeric ? 1 : -1 }
            var segA = Array(a[i..<endA]), segB = Array(b[j..<endB])
            if numeric {
                segA = Array(segA.drop { $0 == 48 })
                segB = Array(segB.drop { $0 == 48 })
                if segA.count != segB.count { return segA.count > segB.count ? 1 : -1 }
            }
            if segA != segB { return segA.lexicographicallyPrecedes(segB) ? -1 : 1 }
            i = endA
            j = endB
        }
        if i >= a.count && j >= b.count { return 0 }
        return i < a.count ? 1 : -1
    }
}
