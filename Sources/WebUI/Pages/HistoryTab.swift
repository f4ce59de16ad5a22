import Foundation
import Registry
import SlipwayCore

/// Tag history: every tag row (live, moved, deleted, expired), newest first, searchable by tag
/// name and a date range, with Revert (restore the tag to that manifest) where the change is
/// still inside the namespace's time-machine window. Revert calls
/// `POST .../tag/{tag}/restore` from `history.js`, which enforces the window again.
struct HistoryTab {
    let server: PageServer

    static let pageSize = 50
    /// Date filtering reads rows in batches; this bounds the rows one request reads.
    static let scanLimit = 20_000

    struct Row {
        let tag: String
        let digest: String
        let shortDigest: String
        let change: String
        let start: TimeView
        let end: TimeView?
        let canRevert: Bool
        let isLive: Bool
    }

    struct Model {
        let header: RepositoryHeader
        let rows: [Row]
        let hasRows: Bool
        let filter: String
        let from: String
        let to: String
        let windowText: String
        let nextURL: String?
        let canWrite: Bool
    }

    func page(_ r: PageRequest, access: RepositoryAccess, header: RepositoryHeader) async throws -> Page {
        let repo = access.repository
        let store = server.services.store
        let filter = (r.query("filter") ?? "").trimmingCharacters(in: .whitespaces)
        let from = r.query("from") ?? ""
        let to = r.query("to") ?? ""
        let fromMillis = Self.dayStart(from)
        let toMillis = Self.dayStart(to).map { $0 + 86_400_000 }
        var offset = max(0, Int(r.query("offset") ?? "0") ?? 0)
        let window = try await store.timeMachineSeconds(namespaceID: repo.namespaceID)
        let now = Clock.nowMillis()

        var matched: [MetadataStore.TagRecord] = []
        var scanned = 0
        var nextOffset: Int?
        scan: while scanned < Self.scanLimit {
            let batchSize = (fromMillis == nil && toMillis == nil) ? Self.pageSize + 1 : 500
            let batch = try await store.tagRecords(repositoryID: repo.id, filter: filter.isEmpty ? nil : .contains(filter), onlyActive: false,
                                                   offset: offset, limit: batchSize)
            for (i, record) in batch.enumerated() {
                let end = record.effectiveEnd.map { min($0, now) }
                if let toMillis, record.start >= toMillis { continue }
                if let fromMillis, (end ?? now) < fromMillis { continue }
                if matched.count == Self.pageSize {
                    nextOffset = offset + i
                    break scan
                }
                matched.append(record)
            }
            scanned += batch.count
            offset += batch.count
            if batch.count < batchSize { break }
        }
        // A row that ended exactly when a newer row of the same tag started was moved, not deleted.
        let starts = Set(matched.map { "\($0.name)@\($0.start)" })
        let rows = matched.map { t -> Row in
            let live = t.isLive(now: now)
            let ended = t.effectiveEnd.flatMap { $0 <= now ? $0 : nil }
            let change: String
            if live {
                change = t.reversion ? "Reverted to" : "Points at"
            } else if t.end == nil {
                change = "Expired from"
            } else if let end = t.end, starts.contains("\(t.name)@\(end)") {
                change = "Moved away from"
            } else {
                change = "Deleted from"
            }
            // Restoring a live row is a no-op; a dead one only within the window.
            let revertable = !live && ended.map { now - $0 <= window * 1000 } == true
            return Row(tag: t.name, digest: t.digest.description, shortDigest: Formatting.shortDigest(t.digest.description), change: change,
                       start: TimeView(millis: t.start), end: TimeView(millis: ended), canRevert: revertable && access.canWrite, isLive: live)
        }
        var next: String?
        if let nextOffset {
            var url = RepositoryURL.page(repo.path, tab: "history") + "&offset=\(nextOffset)"
            if !filter.isEmpty { url += "&filter=" + PageServer.queryEscape(filter) }
            if !from.isEmpty { url += "&from=" + PageServer.queryEscape(from) }
            if !to.isEmpty { url += "&to=" + PageServer.queryEscape(to) }
            next = url
        }
        let model = Model(header: header, rows: rows, hasRows: !rows.isEmpty, filter: filter, from: fromMillis == nil ? "" : from,
                          to: toMillis == nil ? "" : to, windowText: Formatting.duration(seconds: window), nextURL: next, canWrite: access.canWrite)
        return Page(title: "\(repo.path) · history", template: "tab_history", model: model, scripts: ["history.js"], nav: .repositories)
    }

    /// `yyyy-mm-dd` (from `<input type="date">`) → midnight UTC in millis.
    static func dayStart(_ text: String) -> Int64? {
        let parts = text.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3 else { return nil }
        var c = DateComponents()
        c.year = parts[0]
        c.month = parts[1]
        c.day = parts[2]
        c.timeZone = TimeZone(identifier: "UTC")
        guard let date = Calendar(identifier: .gregorian).date(from: c) else { return nil }
        return Int64(date.timeIntervalSince1970 * 1000)
    }
}
