import Events
import Foundation
import Registry
import SlipwayCore

/// The events and methods a repository notification may name (quay-reference §1.10), with what
/// each event's payload carries, its one-line summary and its test sample.
///
/// Slipway emits `repo_push`, the five build events and `repo_image_expiry`. The scanner, mirror
/// and quota events are accepted for API compatibility (Quay clients create them) but nothing in
/// Slipway raises them; only the test endpoint sends them.
public enum NotificationCatalog {
    public static let buildEvents: Set<String> = Set(RepositoryEventKind.buildEvents.map(\.rawValue))

    /// What Slipway emits (`RepositoryEventKind`), then what it only accepts.
    public static let events: [String] = RepositoryEventKind.allCases.map(\.rawValue) + [
        "repo_mirror_sync_started", "repo_mirror_sync_success", "repo_mirror_sync_failed",
        "quota_warning", "quota_error",
    ]

    public enum Method: String, CaseIterable, Sendable {
        case webhook, email, slack
        case quayNotification = "quay_notification"
        case flowdock, hipchat

        /// Services that no longer exist: such notifications are stored (Quay clients create them)
        /// but every delivery fails with this reason.
        public var unsupportedReason: String? {
            switch self {
            case .flowdock: return "Flowdock has been shut down; Slipway stores this notification but cannot deliver it"
            case .hipchat: return "HipChat has been shut down; Slipway stores this notification but cannot deliver it"
            default: return nil
            }
        }
    }

    /// Fields every event payload has.
    static let commonFields: Set<String> = ["repository", "namespace", "name", "docker_url", "homepage"]

    /// Top-level payload fields per event: what a webhook template may reference.
    public static func fields(of event: String) -> Set<String> {
        let build: Set<String> = ["build_id", "build_name", "docker_tags", "trigger_id", "trigger_kind", "trigger_metadata",
                                  "is_manual", "manual_user", "repo"]
        switch event {
        case "repo_push": return commonFields.union(["updated_tags"])
        case "build_queued", "build_start", "build_cancelled": return commonFields.union(build)
        case "build_success": return commonFields.union(build).union(["image_id", "manifest_digests"])
        case "build_failure": return commonFields.union(build).union(["error_message"])
        case "repo_image_expiry": return commonFields.union(["tags", "expiring_in"])
        case "vulnerability_found": return commonFields.union(["tags", "image", "vulnerability", "vulnerabilities"])
        case "quota_warning", "quota_error": return commonFields.union(["quota_limit", "usage_percent", "message"])
        default: return commonFields.union(["message"])
        }
    }

    /// `repository`, `namespace`, `name`, `docker_url`, `homepage` for `repo` (`subpage` appended
    /// to the homepage, as Quay's `build_repository_event_data`).
    public static func base(namespace: String, name: String, baseURL: String, subpage: String = "") -> [String: EventValue] {
        let host = baseURL.replacingOccurrences(of: "https://", with: "").replacingOccurrences(of: "http://", with: "")
        return [
            "repository": .string("\(namespace)/\(name)"), "namespace": .string(namespace), "name": .string(name),
            "docker_url": .string("\(host)/\(namespace)/\(name)"),
            "homepage": .string("\(baseURL)/repository/\(namespace)/\(name)\(subpage)"),
        ]
    }

    /// What `POST …/notification/{uuid}/test` sends (Quay's `get_sample_data`).
    public static func sample(event: String, namespace: String, name: String, baseURL: String, eventConfig: [String: EventValue]) -> [String: EventValue] {
        let buildID = "fake-build-id"
        let metadata: EventValue = .object([
            "default_branch": .string("main"), "ref": .string("refs/heads/somebranch"),
            "commit": .string("42d4a62c53350993ea41069e9f2cfdefb0df097d"),
            "commit_info": .object([
                "url": .string("http://path/to/the/commit"), "message": .string("Some commit message"),
                "date": .int(Clock.nowMillis() / 1000),
                "author": .object(["username": .string("fakeauthor"), "url": .string("http://path/to/fake/author/in/scm")]),
            ]),
        ])
        var p: [String: EventValue]
        if buildEvents.contains(event) {
            p = base(namespace: namespace, name: name, baseURL: baseURL, subpage: "/build/\(buildID)")
            p["build_id"] = .string(buildID)
            p["build_name"] = .string("some-fake-build")
            p["docker_tags"] = .strings(["latest", "foo", "bar"])
            p["trigger_id"] = .string("1245634")
            p["trigger_kind"] = .string("github")
            p["trigger_metadata"] = metadata
            switch event {
            case "build_queued":
                p["is_manual"] = .bool(false)
                p["manual_user"] = .null
            case "build_success":
                p["image_id"] = .string("1245657346")
                p["manifest_digests"] = .strings([])
            case "build_failure":
                p["error_message"] = .string("This is a fake error message")
            default: break
            }
            return p
        }
        p = base(namespace: namespace, name: name, baseURL: baseURL)
        switch event {
        case "repo_push":
            p["updated_tags"] = .strings(["latest", "foo"])
        case "repo_image_expiry":
            let days = eventConfig["days"].flatMap(NotificationValidator.positiveInt) ?? 1
            p["tags"] = .strings(["latest", "v1"])
            p["expiring_in"] = .string("\(days) days")
        case "vulnerability_found":
            p["tags"] = .strings(["latest", "prod", "foo", "bar", "baz"])
            p["image"] = .string("some-image-id")
            p["vulnerability"] = .object([
                "id": .string("CVE-FAKE-CVE"), "description": .string("A futurist vulnerability"),
                "link": .string("https://security-tracker.debian.org/tracker/CVE-FAKE-CVE"), "priority": .string("Critical"),
            ])
        case "quota_warning", "quota_error":
            p["quota_limit"] = .string("1 GiB")
            p["usage_percent"] = .int(event == "quota_error" ? 100 : 80)
            p["message"] = .string("TEST NOTIFICATION")
        default:
            p["message"] = .string("TEST NOTIFICATION")
        }
        return p
    }

    /// Severity, as Quay's `get_level` (Slack colours).
    static func level(_ event: String) -> String {
        switch event {
        case "repo_push": return "primary"
        case "build_success", "repo_mirror_sync_success": return "success"
        case "build_failure", "repo_mirror_sync_failed", "quota_error": return "error"
        case "repo_image_expiry", "quota_warning", "vulnerability_found": return "warning"
        default: return "info"
        }
    }
}
