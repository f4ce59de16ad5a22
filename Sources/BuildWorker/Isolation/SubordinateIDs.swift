// /etc/subuid and /etc/subgid (subuid(5)): `name:start:count` lines granting a user a range of
// ids to map into its user namespaces. Rootless buildah needs one for the build user.

public enum SubordinateIDs {
    public struct Range: Sendable, Equatable {
        public let owner: String
        public let start: Int64
        public let count: Int64
        public var end: Int64 { start + count }
    }

    /// The ranges of a subuid/subgid file; malformed lines are skipped (as the shadow tools do).
    public static func parse(_ text: String) -> [Range] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count == 3, !fields[0].isEmpty, let start = Int64(fields[1]), let count = Int64(fields[2]), count > 0 else { return nil }
            return Range(owner: String(fields[0]), start: start, count: count)
        }
    }

    /// The range `owner` (a name or a numeric uid) has, if any.
    public static func range(of owner: [String], in text: String) -> Range? {
        parse(text).first { owner.contains($0.owner) }
    }

    /// The start of `count` free ids at or above 100000 (Debian's SUB_UID_MIN) that overlap no
    /// listed range, aligned to 65536 like useradd allocates.
    public static func freeStart(count: Int64, in text: String) -> Int64 {
        let ranges = parse(text).sorted { $0.start < $1.start }
        var candidate: Int64 = 100_000
        for range in ranges where range.end > candidate && range.start < candidate + count {
            candidate = max(candidate, ((range.end + 65_535) / 65_536) * 65_536)
        }
        // A later range may overlap the moved candidate: check again until none does.
        while let clash = ranges.first(where: { $0.start < candidate + count && $0.end > candidate }) {
            candidate = ((clash.end + 65_535) / 65_536) * 65_536
        }
        return candidate
    }
}
