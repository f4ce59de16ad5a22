import Audit
import Foundation
import Registry
import SlipwayCore
import Triggers

/// The usage-log table shared by the repository, organization and user Logs tabs: the store
/// query `/api/v1/.../logs` uses, a from/to day range (default: the last 7 days, at most 31
/// days as the API allows), 50 entries a page with a keyset cursor, one sentence per entry
/// (`UsageLogSentence`). Above the table `logs.js` draws the actions per day from the matching
/// `.../aggregatelogs` endpoint; Export (e-mail or callback URL) calls `.../exportlogs`.
struct UsageLogsView: Sendable {
    struct Entry: Sendable {
        let kind: String
        /// The kind's short title (`UsageLogKinds`), shown as the sentence's tooltip.
        let title: String
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
    /// The export and aggregate endpoints for `logs.js`.
    let exportAPI: String
    let aggregateAPI: String
    /// Titles of every kind, for the chart's legend (`logs.js` reads them from the page).
    let kindTitles: [KindTitle]

    struct KindTitle: Sendable {
        let kind: String
        let title: String
    }

    static let pageSize = 50
    static let maxDays: Int64 = 31

    /// `apiBase` is the API path the logs endpoints hang off (`/api/v1/repository/ns/repo`,
    /// `/api/v1/organization/acme`, `/api/v1/user`).
    static func make(scope: UsageLogScope, request r: PageRequest, pageURL: String, hidden: [String: String], apiBase: String,
                     server: PageServer) async throws -> UsageLogsView {
        let services = server.services
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
            await services.auditLog.flush()
            let rows = try await services.auditStore.usageLogs(scope: scope, start: start, end: end, performer: nil, before: cursor, limit: pageSize + 1)
            let shown = rows.prefix(pageSize)
            let sources = try await triggerSources(for: shown, triggers: server.triggers)
            entries = shown.map { e in
                Entry(kind: e.kind, title: UsageLogKinds.title(e.kind), description: UsageLogSentence(e, triggerSources: sources).text,
                      performer: e.performerName ?? "(anonymous)", ip: e.ip ?? "", at: TimeView(millis: e.createdAt))
            }
            if rows.count > pageSize, let last = rows.prefix(pageSize).last {
                next = pageURL + "&from=\(Formatting.day(millis: start))&to=\(Formatting.day(millis: end - 86_400_000))&before=\(last.createdAt):\(last.id)"
            }
        }
        return UsageLogsView(entries: entries, hasEntries: !entries.isEmpty,
                             hiddenFields: hidden.sorted { $0.key < $1.key }.map { HiddenField(name: $0.key, value: $0.value) }, from: Formatting.day(millis: start),
                             to: Formatting.day(millis: end - 86_400_000), error: error, nextURL: next,
                             exportAPI: apiBase + "/exportlogs", aggregateAPI: apiBase + "/aggregatelogs",
                             kindTitles: UsageLogKinds.titles.sorted { $0.key < $1.key }.map { KindTitle(kind: $0.key, title: $0.value) })
    }

    /// The build source of each trigger that an entry names without saying what it builds
    /// (toggling, deleting or creating a trigger records only its UUID and service). A trigger
    /// deleted since is simply absent: its sentence then names the service only.
    static func triggerSources(for entries: ArraySlice<UsageLogEntry>, triggers: TriggerStore) async throws -> [String: String] {
        var sources: [String: String] = [:]
        let uuids = Set(entries.filter { $0.metadata["config"] == nil && $0.metadata["trigger_metadata"] == nil }.compactMap { $0.metadata["trigger_id"] })
        for uuid in uuids {
            if let source = try await triggers.trigger(uuid: uuid)?.config.buildSource { sources[uuid] = source }
        }
        return sources
    }
}

extension Formatting {
    /// `yyyy-mm-dd` in UTC, the value format of `<input type="date">`.
    static func day(millis: Int64) -> String {
        String(time(millis: millis).prefix(10))
    }
}
