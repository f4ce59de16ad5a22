import Foundation

// RubyGems versions, ordered as `Gem::Version#<=>`: segments are runs of digits (numbers) or
// letters (words, which make the version a pre-release and sort below numbers); `-` means
// ".pre."; trailing zeros of the release part and of the pre-release part do not count
// ("1.0" == "1", "1.0.a" == "1.a").

public struct RubyGemsVersion: Comparable, Sendable, CustomStringConvertible {
    public let description: String
    let segments: [SemanticVersion.Identifier]

    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        // Gem::Version's ANCHORED_VERSION_PATTERN: digits first, then [0-9a-zA-Z.-]*.
        guard let first = trimmed.first, first.isASCIINumber,
              trimmed.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) else { return nil }
        description = trimmed
        let version = trimmed.replacingOccurrences(of: "-", with: ".pre.")
        var segments: [SemanticVersion.Identifier] = []
        var run = ""
        var runIsDigits = false
        func flush() {
            guard !run.isEmpty else { return }
            segments.append(runIsDigits ? (Int(run).map { .number($0) } ?? .word(run)) : .word(run))
            run = ""
        }
        for c in version {
            if c == "." { flush(); continue }
            let digit = c.isASCIINumber
            if !run.isEmpty && digit != runIsDigits { flush() }
            runIsDigits = digit
            run.append(c)
        }
        flush()
        self.segments = Self.canonical(segments)
    }

    /// `canonical_segments`: the release part and the pre-release part each without trailing zeros.
    static func canonical(_ segments: [SemanticVersion.Identifier]) -> [SemanticVersion.Identifier] {
        let split = segments.firstIndex { if case .word = $0 { true } else { false } } ?? segments.count
        func trim(_ part: ArraySlice<SemanticVersion.Identifier>) -> [SemanticVersion.Identifier] {
            var part = Array(part)
            while part.last == .number(0) { part.removeLast() }
            return part
        }
        return trim(segments[..<split]) + trim(segments[split...])
    }

    static func order(_ a: RubyGemsVersion, _ b: RubyGemsVersion) -> Int {
        for i in 0..<max(a.segments.count, b.segments.count) {
            let x = i < a.segments.count ? a.segments[i] : .number(0)
            let y = i < b.segments.count ? b.segments[i] : .number(0)
            switch (x, y) {
            // Unlike semver, a word sorts below a number here ("1.a" < "1.0.1" < "1.1").
            case (.word, .number): return -1
            case (.number, .word): return 1
            case let (.number(p), .number(q)) where p != q: return p < q ? -1 : 1
            case let (.word(p), .word(q)) where p != q: return Array(p.utf8).lexicographicallyPrecedes(Array(q.utf8)) ? -1 : 1
            default: continue
            }
        }
        return 0
    }

    public static func < (a: RubyGemsVersion, b: RubyGemsVersion) -> Bool { order(a, b) < 0 }
    public static func == (a: RubyGemsVersion, b: RubyGemsVersion) -> Bool { order(a, b) == 0 }
}
