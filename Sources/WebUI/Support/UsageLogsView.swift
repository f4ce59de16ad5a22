import Foundation
import Registry

/// The usage-log table shared by the repository, organization and user Logs tabs: the store
/// query `/api/v1/.../logs` uses, a from/to day range (default: the last 7 days, at most 31
/// days as the API allows), 50 entries a page with a keyset cursor. Export (e-mail or callback
/// URL) is `logs.js` calling the matching `.../exportlogs` endpoint.
struct UsageLogsView: Sendable {
    struct Entry: Sendable {
        let kind: String
        let description: String
        let performer: String
        let ip: String
        let at: TimeView
    }

    struct HiddenField: Sendable {
        let name: String
        let value: String
    }

    let entries: [Entry]
    let hasEntries: Bool
    /// Query parameters the date form must keep (`tab=logs`).
    let hiddenFields: [HiddenField]
    let from: String
    let to: String
    let error: String?
    let nextURL: String?
    /// The export endpoint for `logs.js`.
    let exportAPI: String

    static let pageSize = 50
    static let maxDays: Int64 = 31

    static func make(scope: MetadataStore.LogScope, request r: PageRequest, pageURL: String, hidden: [String: String], exportAPI: String,
                     services: RegistryServices) async throws -> UsageLogsView {
        let today = (Clock.nowMillis() / 86_400_000) * 86_400_000
        let fromText = r.query("from") ?? ""
        let toText = r.query("to") ?? ""
        let start = HistoryTab.dayStart(fromText) ?? (today - 6 * 86_400_000)
        let end = (HistoryTab.dayStart(toText) ?? today) + 86_400_000
        var error: String?
        var entries: [Entry] = []
        var next: String?
        if start >= end {
            error = "The start date must not be after the end date."
        } else if end - start > maxDays * 86_400_000 {
            error = "The date range is limited to \(maxDays) days."
        } else {
            var cursor: (Int64, Int64)?
            if let before = r.query("before") {
                let parts = before.split(separator: ":").compactMap { Int64($0) }
                if parts.count == 2 { cursor = (parts[0], parts[1]) }
            }
            await services.audit.flush()
            let rows = try await services.store.usageLogs(scope: scope, start: start, end: end, performer: nil, before: cursor, limit: pageSize + 1)
            entries = rows.prefix(pageSize).map { e in
                Entry(kind: e.kind, description: describe(e), performer: e.performerName ?? "(anonymous)", ip: e.ip ?? "", at: TimeView(millis: e.createdAt))
            }
            if rows.count > pageSize, let last = rows.prefix(pageSize).last {
                next = pageURL + "&from=\(Formatting.day(millis: start))&to=\(Formatting.day(millis: end - 86_400_000))&before=\(last.createdAt):\(last.id)"
            }
        }
        return UsageLogsView(entries: entries, hasEntries: !entries.isEmpty,
                             hiddenFields: hidden.sorted { $0.key < $1.key }.map { HiddenField(name: $0.key, value: $0.value) }, from: Formatting.day(millis: start),
                             to: Formatting.day(millis: end - 86_400_000), error: error, nextURL: next, exportAPI: exportAPI)
    }

    /// A one-line description: the repository plus the entry's metadata, keys sorted.
    static func describe(_ e: MetadataStore.LogEntry) -> String {
        var parts: [String] = []
        if let repo = e.repositoryName, let ns = e.namespaceName { parts.append("\(ns)/\(repo)") }
        for key in e.metadata.keys.sorted() { parts.append("\(key)=\(e.metadata[key]!.prefix(200))") }
        return parts.joined(separator: " · ")
    }
}

extension Formatting {
    /// `yyyy-mm-dd` in UTC, the value format of `<input type="date">`.
    static func day(millis: Int64) -> String {
        String(time(millis: millis).prefix(10))
    }
}
