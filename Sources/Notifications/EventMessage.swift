import Accounts
import Foundation
import Registry
import SlipwayCore

/// The human-readable form of an event, for e-mail and Slack: a one-line summary (Quay's
/// `get_summary`, used as the mail subject and Slack text) and a few lines of detail.
struct EventMessage: Sendable {
    let summary: String
    let details: [String]
    /// Where to look (the repository or build page).
    let link: String?

    init(event: String, payload: [String: EventValue]) {
        func s(_ key: String) -> String? { payload[key]?.stringValue }
        func list(_ key: String) -> [String] {
            switch payload[key] {
            case .strings(let v): return v
            case .array(let v): return v.compactMap(\.stringValue)
            case .string(let v): return [v]
            default: return []
            }
        }
        let repo = s("repository") ?? "?"
        let build = "for repository \(repo) [\(String((s("build_id") ?? "").prefix(7)))]"
        var details: [String] = []
        switch event {
        case "repo_push":
            summary = "Repository \(repo) updated"
            let tags = list("updated_tags")
            details.append(tags.isEmpty ? "New images were pushed." : "Tags pushed: \(tags.joined(separator: ", "))")
        case "build_queued": summary = "Build queued " + build
        case "build_start": summary = "Build started " + build
        case "build_success": summary = "Build succeeded " + build
        case "build_failure": summary = "Build failure " + build
        case "build_cancelled": summary = "Build cancelled " + build
        case "repo_image_expiry":
            let tags = list("tags")
            let within: String
            switch payload["expiring_in"] {
            case .string(let v): within = v
            case .int(let v): within = "\(v) days"
            default: within = "soon"
            }
            summary = "Tags in repository \(repo) expire within \(within)"
            details.append("Expiring tags: \(tags.joined(separator: ", "))")
        case "vulnerability_found":
            let priority = payload["vulnerability"]?["priority"]?.stringValue ?? "A"
            summary = "\(priority) vulnerability detected in repository \(repo) in \(list("tags").count) tags"
        case "repo_mirror_sync_started": summary = "Repository mirror started for \(s("message") ?? repo)"
        case "repo_mirror_sync_success": summary = "Repository mirror success for \(s("message") ?? repo)"
        case "repo_mirror_sync_failed": summary = "Repository mirror failed for \(s("message") ?? repo)"
        case "quota_warning": summary = "Quota warning for repository \(repo)"
        case "quota_error": summary = "Quota exceeded for repository \(repo)"
        default: summary = "Event \(event) in repository \(repo)"
        }
        if NotificationCatalog.buildEvents.contains(event) {
            let tags = list("docker_tags")
            if !tags.isEmpty { details.append("Tags: \(tags.joined(separator: ", "))") }
            if let ref = payload["trigger_metadata"]?["ref"]?.stringValue { details.append("Ref: \(ref)") }
            if let commit = payload["trigger_metadata"]?["commit"]?.stringValue { details.append("Commit: \(commit)") }
            if let error = s("error_message") { details.append("Error: \(error)") }
        }
        self.details = details
        self.link = s("homepage")
    }

    /// Plain-text body: summary, details, link.
    var text: String {
        var lines = [summary, ""] + details
        if let link { lines += ["", link] }
        return lines.joined(separator: "\n")
    }
}
