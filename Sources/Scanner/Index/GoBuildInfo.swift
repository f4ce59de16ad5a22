// The module build information the Go toolchain embeds in every executable it links (Go 1.18
// and later, as `go version -m` prints it): the Go version and the main module with every
// dependency module. Found the way Go's debug/buildinfo finds it, by the blob's magic at a
// 16-byte-aligned offset (the `.go.buildinfo` section starts the data segment):
//
//   "\xff Go buildinf:" (14) | pointer size (1) | flags (1) | 16 bytes | varint-length strings:
//   the Go version, then the module info framed by two 16-byte sentinels.
//
// Flag bit 2 (0x2) marks the inline-string format of Go 1.18+; older binaries hold pointers
// into the image instead, which are reported as unsupported.

import Foundation

public struct GoBuildInfo: Sendable, Equatable {
    /// `go1.21.5` as the toolchain writes it.
    public let goVersion: String
    /// The `path`/`mod`/`dep`/`=>`/`build` lines (`go version -m`).
    public let moduleInfo: String

    static let magic: [UInt8] = [0xff] + Array(" Go buildinf:".utf8)
    static let headerSize = 32
    static let alignment = 16
    static let inlineStrings: UInt8 = 0x2
    /// Longest Go version and module info read (a binary with thousands of dependencies has a
    /// few hundred KiB).
    static let maximumStringBytes = 4 << 20

    public init(goVersion: String, moduleInfo: String) {
        self.goVersion = goVersion
        self.moduleInfo = moduleInfo
    }

    /// The packages advisories name: the Go standard library (`stdlib`, as OSV names it), the
    /// main module when it has a release version, and every dependency (replacements win, as
    /// they are what was built).
    public func packages(path: String) -> [IndexedPackage] {
        var modules: [(String, String)] = []
        for line in moduleInfo.split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 3 else { continue }
            switch fields[0] {
            case "mod", "dep": modules.append((fields[1], fields[2]))
            case "=>" where !modules.isEmpty && !fields[2].isEmpty: modules[modules.count - 1] = (fields[1], fields[2])
            default: continue
            }
        }
        var packages: [IndexedPackage] = []
        if let stdlib = Self.standardLibraryVersion(goVersion) {
            packages.append(IndexedPackage(namespace: .go, name: "stdlib", version: stdlib, path: path))
        }
        for (module, version) in modules {
            // `(devel)` (a main module built from a checkout) and local replacements have no
            // version to match.
            guard version.hasPrefix("v"), SemanticVersion(version) != nil else { continue }
            packages.append(IndexedPackage(namespace: .go, name: module, version: String(version.dropFirst()), path: path))
        }
        return packages
    }

    /// `go1.21.5` → `1.21.5`, `go1.21` → `1.21.0`, `go1.21rc2` → `1.21.0-rc.2` (OSV's spelling);
    /// `devel` toolchains have none. Suffixes after a space (`X:boringcrypto`) are dropped.
    static func standardLibraryVersion(_ text: String) -> String? {
        guard text.hasPrefix("go") else { return nil }
        var version = String(text.dropFirst(2).prefix { $0 != " " })
        var preRelease = ""
        for word in ["rc", "beta"] {
            if let range = version.range(of: word) {
                preRelease = "-\(word).\(version[range.upperBound...])"
                version = String(version[..<range.lowerBound])
            }
        }
        var parts = version.split(separator: ".").map(String.init)
        guard parts.count >= 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) else { return nil }
        while parts.count < 3 { parts.append("0") }
        let result = parts.joined(separator: ".") + preRelease
        return SemanticVersion(result) != nil ? result : nil
    }

    /// Parses the blob that starts at `bytes[start]` (the magic). `.needMore` when the strings
    /// run past the bytes given.
    enum Parse: Equatable {
        case found(GoBuildInfo)
        case pointerFormat
        case invalid
        case needMore
    }

    static func parse(_ bytes: [UInt8], at start: Int) -> Parse {
        guard bytes.count - start >= headerSize else { return .needMore }
        let pointerSize = bytes[start + 14], flags = bytes[start + 15]
        guard pointerSize == 4 || pointerSize == 8 else { return .invalid }
        guard flags & inlineStrings != 0 else { return .pointerFormat }
        var at = start + headerSize
        var strings: [[UInt8]] = []
        for _ in 0..<2 {
            guard let (length, width) = uvarint(bytes, at) else { return at + 10 <= bytes.count ? .invalid : .needMore }
            guard length <= UInt64(maximumStringBytes) else { return .invalid }
            at += width
            guard at + Int(length) <= bytes.count else { return .needMore }
            strings.append(Array(bytes[at..<at + Int(length)]))
            at += Int(length)
        }
        var module = strings[1]
        // The module info is framed by 16-byte sentinels, with a newline before the closing one.
        if module.count >= 33 && module[module.count - 17] == UInt8(ascii: "\n") {
            module = Array(module[16..<module.count - 16])
        } else {
            module = []
        }
        return .found(GoBuildInfo(goVersion: String(decoding: strings[0], as: UTF8.self), moduleInfo: String(decoding: module, as: UTF8.self)))
    }

    /// Go's `binary.Uvarint`: the value and its width; nil when `bytes` ends inside it or it
    /// overflows.
    static func uvarint(_ bytes: [UInt8], _ start: Int) -> (UInt64, Int)? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var at = start
        while at < bytes.count && at - start < 10 {
            let byte = bytes[at]
            value |= UInt64(byte & 0x7f) << shift
            at += 1
            if byte < 0x80 { return (value, at - start) }
            shift += 7
        }
        return nil
    }
}

/// Finds the build info in an executable read as a stream of chunks, keeping only the bytes
/// not yet searched (less than the magic's length) or, once the magic is found, the blob.
struct GoBuildInfoScanner {
    enum Outcome: Equatable {
        case found(GoBuildInfo)
        case pointerFormat
        /// No build info: not a Go executable.
        case absent
    }

    private var buffer: [UInt8] = []
    /// Where in `buffer` the next 16-aligned candidate offset is.
    private var next = 0
    private var magicAt: Int?

    /// Feeds the next chunk; an outcome once known, nil to go on.
    mutating func consume(_ chunk: UnsafeRawBufferPointer) -> Outcome? {
        buffer.append(contentsOf: chunk)
        return search(atEnd: false)
    }

    /// The file ended.
    mutating func finish() -> Outcome {
        search(atEnd: true) ?? .absent
    }

    private mutating func search(atEnd: Bool) -> Outcome? {
        let magic = GoBuildInfo.magic
        while true {
            if let start = magicAt {
                switch GoBuildInfo.parse(buffer, at: start) {
                case .found(let info): return .found(info)
                case .pointerFormat: return .pointerFormat
                case .needMore:
                    if atEnd { return .absent }
                    guard buffer.count - start <= GoBuildInfo.headerSize + 2 * GoBuildInfo.maximumStringBytes + 20 else { return .absent }
                    return nil
                case .invalid:
                    // Not the build info after all (the magic as data somewhere): search on.
                    magicAt = nil
                    next = start + GoBuildInfo.alignment
                }
            }
            var found: Int?
            var at = next
            buffer.withUnsafeBufferPointer { bytes in
                while at + magic.count <= bytes.count {
                    if bytes[at] == 0xff && bytes[at + 1] == 0x20 && bytes[at + 2] == 0x47 && bytes[at..<at + magic.count].elementsEqual(magic) {
                        found = at
                        return
                    }
                    at += GoBuildInfo.alignment
                }
            }
            next = at
            if let found {
                magicAt = found
                continue
            }
            // Keep only what has not been searched (the aligned tail).
            let searched = min(next, buffer.count)
            buffer.removeFirst(searched)
            next -= searched
            return atEnd ? .absent : nil
        }
    }
}
