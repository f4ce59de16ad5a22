// Maven versions, ordered as Maven's `ComparableVersion` (maven-artifact 3.8) orders them, the
// rule OSV's Maven ranges are written for: items split at `.`, at `-` (which opens a sub-list)
// and between digits and letters; numbers compare numerically and above words; known
// qualifiers in the order alpha < beta < milestone < rc < snapshot < release < sp (with the
// aliases a, b, m after a number, cr, ga, final, release), other words after them as strings;
// trailing zeros and release qualifiers do not count ("1.0.0" == "1", "1-ga" == "1"). Every
// string is some Maven version, so parsing cannot fail.

public struct MavenVersion: Comparable, Sendable, CustomStringConvertible {
    public let description: String
    let items: MavenItem

    public init(_ text: String) {
        description = text
        items = Self.parse(text.lowercased())
    }

    public static func < (a: MavenVersion, b: MavenVersion) -> Bool { a.items.compare(b.items) < 0 }
    public static func == (a: MavenVersion, b: MavenVersion) -> Bool { a.items.compare(b.items) == 0 }

    /// `ComparableVersion.parseVersion`. Lists are built as arrays of indices into a flat store so
    /// that a sub-list can still grow after it was added to its parent, as Maven's do.
    static func parse(_ version: String) -> MavenItem {
        var lists: [[Node]] = [[]]
        var current = 0
        var stack = [0]
        var isDigit = false
        var start = 0
        let chars = Array(version.utf8)
        func text(_ from: Int, _ to: Int) -> String { String(decoding: chars[from..<to], as: UTF8.self) }
        func item(_ digits: Bool, _ from: Int, _ to: Int) -> Node {
            digits ? .leaf(.number(MavenItem.stripZeros(text(from, to)))) : .leaf(.word(MavenItem.canonical(text(from, to), followedByDigit: false)))
        }
        func openList() {
            lists.append([])
            lists[current].append(.list(lists.count - 1))
            current = lists.count - 1
            stack.append(current)
        }
        for (i, c) in chars.enumerated() {
            if c == UInt8(ascii: ".") {
                lists[current].append(i == start ? .leaf(.number("")) : item(isDigit, start, i))
                start = i + 1
            } else if c == UInt8(ascii: "-") {
                lists[current].append(i == start ? .leaf(.number("")) : item(isDigit, start, i))
                start = i + 1
                openList()
            } else if c >= 48 && c <= 57 {
                if !isDigit && i > start {
                    // "Treat .X as -X for any string qualifier X" (Maven 3.8): a word that ends
                    // at a digit or at the end opens a sub-list unless its list is still empty.
                    if !lists[current].isEmpty { openList() }
                    lists[current].append(.leaf(.word(MavenItem.canonical(text(start, i), followedByDigit: true))))
                    start = i
                    openList()
                }
                isDigit = true
            } else {
                if isDigit && i > start {
                    lists[current].append(item(true, start, i))
                    start = i
                    openList()
                }
                isDigit = false
            }
        }
        if chars.count > start {
            if !isDigit && !lists[current].isEmpty { openList() }
            lists[current].append(item(isDigit, start, chars.count))
        }
        // Normalise innermost first (the stack order), then build the tree.
        var normalised: [Int: [Node]] = [:]
        for index in stack.reversed() {
            var list = lists[index]
            // Maven's `normalize()`: from the end, drop null items (0, "", empty lists), step
            // over non-null lists, stop at the first other item.
            var i = list.count - 1
            scan: while i >= 0 {
                switch list[i] {
                case .leaf(let leaf):
                    if !leaf.isNull { break scan }
                    list.remove(at: i)
                case .list(let child):
                    if (normalised[child] ?? lists[child]).isEmpty { list.remove(at: i) }
                }
                i -= 1
            }
            normalised[index] = list
        }
        func build(_ index: Int) -> MavenItem {
            .list((normalised[index] ?? lists[index]).map {
                switch $0 {
                case .leaf(let leaf): leaf
                case .list(let child): build(child)
                }
            })
        }
        return build(0)
    }

    enum Node {
        case leaf(MavenItem)
        case list(Int)
    }
}

indirect enum MavenItem: Sendable {
    /// Digits without leading zeros ("" is zero).
    case number(String)
    /// A canonical qualifier.
    case word(String)
    case list([MavenItem])

    static let qualifiers = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"]
    static let releaseIndex = "5"

    static func stripZeros(_ digits: String) -> String { String(digits.drop { $0 == "0" }) }

    static func canonical(_ word: String, followedByDigit: Bool) -> String {
        var word = word
        if followedByDigit && word.count == 1 {
            switch word {
            case "a": word = "alpha"
            case "b": word = "beta"
            case "m": word = "milestone"
            default: break
            }
        }
        switch word {
        case "ga", "final", "release": return ""
        case "cr": return "rc"
        default: return word
        }
    }

    /// Maven compares qualifiers through these strings: an index for known ones, "7-word" after.
    static func comparable(_ qualifier: String) -> String {
        if let index = qualifiers.firstIndex(of: qualifier) { return String(index) }
        return "\(qualifiers.count)-\(qualifier)"
    }

    var isNull: Bool {
        switch self {
        case .number(let digits): digits.isEmpty
        case .word(let word): word.isEmpty
        case .list(let items): items.isEmpty
        }
    }

    private static func compareNumbers(_ a: String, _ b: String) -> Int {
        if a.count != b.count { return a.count < b.count ? -1 : 1 }
        return a == b ? 0 : (a < b ? -1 : 1)
    }

    private static func compareStrings(_ a: String, _ b: String) -> Int {
        a == b ? 0 : (Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)) ? -1 : 1)
    }

    /// `Item.compareTo`; `other == nil` is the end of the shorter list.
    func compare(_ other: MavenItem?) -> Int {
        switch self {
        case .number(let digits):
            switch other {
            case nil: return digits.isEmpty ? 0 : 1
            case .number(let theirs): return Self.compareNumbers(digits, theirs)
            case .word, .list: return 1
            }
        case .word(let word):
            switch other {
            case nil: return Self.compareStrings(Self.comparable(word), Self.releaseIndex)
            case .number: return -1
            case .word(let theirs): return Self.compareStrings(Self.comparable(word), Self.comparable(theirs))
            case .list: return -1
            }
        case .list(let items):
            switch other {
            case nil: return items.first?.compare(nil) ?? 0
            case .number: return -1
            case .word: return 1
            case .list(let theirs):
                for i in 0..<max(items.count, theirs.count) {
                    let left = i < items.count ? items[i] : nil
                    let right = i < theirs.count ? theirs[i] : nil
                    let result = left.map { $0.compare(right) } ?? (right.map { -$0.compare(nil) } ?? 0)
                    if result != 0 { return result }
                }
                return 0
            }
        }
    }
}
