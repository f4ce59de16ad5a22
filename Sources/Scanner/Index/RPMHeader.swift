// One rpm package header as rpmdb.sqlite stores it (the `blob` column of `Packages`): rpm's
// exported header without the 8-byte file magic.
//
//   int32 il, int32 dl                      (big-endian: index entries, data bytes)
//   il × { int32 tag, type, offset, count } (big-endian)
//   dl bytes of data                        (strings NUL-terminated, integers big-endian)
//
// Only the tags the indexer needs are read, and every offset is checked against the blob: a
// hostile database gives "not a header", never a read out of bounds.

import Foundation

public struct RPMHeader: Sendable, Equatable {
    public enum Tag: Int32, Sendable {
        case name = 1000
        case version = 1001
        case release = 1002
        case epoch = 1003
        case arch = 1022
        case sourceRPM = 1044
        case modularityLabel = 5096
    }

    private var strings: [Tag: String] = [:]
    private var integers: [Tag: Int32] = [:]

    public func string(_ tag: Tag) -> String? { strings[tag] }
    public func integer(_ tag: Tag) -> Int32? { integers[tag] }

    /// rpm's own bounds: at most 0xffff index entries and 256 MiB of data per header.
    static let maximumEntries = 0xffff
    static let maximumDataBytes = 256 << 20

    static let typeInt32: Int32 = 4
    static let typeString: Int32 = 6

    public init?(_ blob: [UInt8]) {
        guard blob.count >= 8 else { return nil }
        let entries = Int(Self.int32(blob, 0)), dataLength = Int(Self.int32(blob, 4))
        guard entries > 0, entries <= Self.maximumEntries, dataLength >= 0, dataLength <= Self.maximumDataBytes,
              8 + entries * 16 + dataLength <= blob.count else { return nil }
        let dataStart = 8 + entries * 16
        for index in 0..<entries {
            let at = 8 + index * 16
            guard let tag = Tag(rawValue: Self.int32(blob, at)) else { continue }
            let type = Self.int32(blob, at + 4), offset = Int(Self.int32(blob, at + 8)), count = Int(Self.int32(blob, at + 12))
            guard offset >= 0, offset < dataLength, count >= 1 else { return nil }
            switch type {
            case Self.typeString where strings[tag] == nil:
                let start = dataStart + offset, end = dataStart + dataLength
                guard let nul = blob[start..<end].firstIndex(of: 0) else { return nil }
                strings[tag] = String(decoding: blob[start..<nul], as: UTF8.self)
            case Self.typeInt32 where integers[tag] == nil:
                guard offset + 4 <= dataLength else { return nil }
                integers[tag] = Self.int32(blob, dataStart + offset)
            default:
                continue
            }
        }
    }

    static func int32(_ bytes: [UInt8], _ at: Int) -> Int32 {
        Int32(bitPattern: UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3]))
    }

    /// `[EPOCH:]VERSION-RELEASE`, as rpm compares and advisories name fixed versions (an
    /// epoch of 0 is the same as none and left out).
    public var evr: String? {
        guard let version = string(.version), let release = string(.release), !version.isEmpty, !release.isEmpty else { return nil }
        if let epoch = integer(.epoch), epoch != 0 { return "\(epoch):\(version)-\(release)" }
        return "\(version)-\(release)"
    }

    /// The source package's name, from SOURCERPM (`openssl-3.0.7-24.el9.src.rpm` → `openssl`).
    public var sourceName: String? {
        guard var file = string(.sourceRPM), file.hasSuffix(".src.rpm") || file.hasSuffix(".nosrc.rpm") else { return nil }
        file = String(file.prefix(upTo: file.range(of: file.hasSuffix(".src.rpm") ? ".src.rpm" : ".nosrc.rpm", options: .backwards)!.lowerBound))
        // NAME-VERSION-RELEASE: the name is everything before the last two dashes.
        let parts = file.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return nil }
        return parts.dropLast(2).joined(separator: "-")
    }
}
