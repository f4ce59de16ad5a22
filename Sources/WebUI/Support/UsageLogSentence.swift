import Accounts
import Audit
import Foundation
import Registry

/// One usage-log entry as one sentence, in the words Quay's UI writes for each kind (its
/// `logDescriptions` in `logs-view.js` and the new UI's log descriptions), e.g. "Push of v1 to
/// repository admin/app" or "Setup build trigger - push to repository git://host/app.git".
///
/// The entry's metadata is what each writer recorded: Quay's keys for the repository, tag,
/// trigger and sign-in kinds, and the route's path parameters (`orgname`, `teamname`,
/// `robot_shortname`, ...) for the account actions `APIAuditKinds` records. Values that are
/// JSON documents themselves (a trigger's `config`, a build's `trigger_metadata`) are decoded,
/// so a URL reads `git://host/app.git`, never `git:\/\/host`. A kind without a sentence here
/// gets its title (`UsageLogKinds`) and the repository, never a dump of `key=value` pairs.
struct UsageLogSentence {
    let entry: UsageLogEntry
    /// Build sources of triggers by UUID, for entries that name a trigger but not its source
    /// (`toggle_repo_trigger`, `delete_repo_trigger`, `create_repo_trigger`).
    let triggerSources: [String: String]

    init(_ entry: UsageLogEntry, triggerSources: [String: String] = [:]) {
        self.entry = entry
        self.triggerSources = triggerSources
    }

    var text: String {
        (knownSentence ?? fallback).trimmingCharacters(in: .whitespaces)
    }

    /// A metadata value, nil when absent or empty.
    private func value(_ key: String) -> String? {
        guard let v = entry.metadata[key], !v.isEmpty else { return nil }
        return v
    }

    /// `namespace/repo` of the entry (metadata first, as Quay's descriptions read it).
    private var repository: String {
        let ns = value("namespace") ?? entry.namespaceName ?? ""
        let repo = value("repo") ?? entry.repositoryName ?? ""
        return ns.isEmpty ? repo : "\(ns)/\(repo)"
    }

    private var hasRepository: Bool { value("repo") != nil || entry.repositoryName != nil }

    private var fallback: String {
        UsageLogKinds.title(entry.kind) + (hasRepository ? " in repository \(repository)" : "")
    }

    /// The sentence written for this kind, nil for a kind without one (`text` then falls back).
    var knownSentence: String? {
        let repo = repository
        switch entry.kind {
        // Repositories
        case "create_repo": return "Create Repository \(repo)"
        case "delete_repo": return "Delete repository \(repo)"
        case "set_repo_description": return "Change description for repository \(repo)"
        case "change_repo_visibility":
            return "Change visibility for repository \(repo)" + (value("visibility").map { " to \($0)" } ?? "")
        case "change_repo_state":
            return "Repository state of \(repo) changed to " + (value("state") ?? value("state_changed") ?? "?").uppercased()
        case "push_repo":
            if let tag = value("tag") { return "Push of \(tag) to repository \(repo)" }
            if let digest = value("manifest_digest") { return "Push of \(digest) to repository \(repo)" }
            return "Repository push to \(repo)"
        case "pull_repo":
            var what = "repository \(repo)"
            if let tag = value("tag") { what = "tag \(tag) from repository \(repo)" }
            else if let digest = value("manifest_digest") { what = "digest \(digest) from repository \(repo)" }
            if entry.performerName == nil { return "Public pull of \(what)" + (entry.ip.map { " by \($0)" } ?? "") }
            return "Pull of \(what)"

        // Tags and labels
        case "create_tag":
            return "Tag \(value("tag") ?? "?") created in repository \(repo)" + (value("manifest_digest").map { " on \($0)" } ?? "")
        case "move_tag":
            return "Tag \(value("tag") ?? "?") moved" + (value("manifest_digest").map { " to \($0)" } ?? "") + " in repository \(repo)"
        case "delete_tag": return "Tag \(value("tag") ?? "?") deleted in repository \(repo)"
        case "revert_tag":
            return "Tag \(value("tag") ?? "?") restored to \(value("manifest_digest") ?? value("image") ?? "?") in repository \(repo)"
        case "change_tag_expiration":
            let tag = value("tag") ?? "?"
            guard let seconds = value("expiration_date").flatMap(Int64.init) else { return "Tag \(tag) set to no longer expire" }
            return "Tag \(tag) set to expire on \(Formatting.time(millis: seconds * 1000))"
        case "manifest_label_add":
            return "Label \(value("label.key") ?? value("key") ?? "?") added to manifest \(value("manifest_digest") ?? "?") under repository \(repo)"
        case "manifest_label_delete":
            return "Label \(value("label.key") ?? value("key") ?? "?") deleted from manifest \(value("manifest_digest") ?? "?") under repository \(repo)"

        // Permissions and tokens of a repository
        case "change_repo_permission":
            if let user = value("username") { return "Change permission for user \(user) in repository \(repo)" + role }
            if let team = value("teamname") ?? value("team") { return "Change permission for team \(team) in repository \(repo)" + role }
            if value("robot_shortname") != nil { return "Change repository permissions of robot \(robot)" }
            return nil
        case "delete_repo_permission":
            if let user = value("username") { return "Remove permission for user \(user) from repository \(repo)" }
            if let team = value("teamname") ?? value("team") { return "Remove permission for team \(team) from repository \(repo)" }
            return nil
        case "add_repo_accesstoken":
            return "Create access token" + (value("token").map { " \($0)" } ?? "") + " in repository \(repo)"
        case "delete_repo_accesstoken":
            return "Delete access token" + ((value("code_uuid") ?? value("token")).map { " \($0)" } ?? "") + " in repository \(repo)"

        // Builds and triggers
        case "build_dockerfile":
            guard value("trigger_id") != nil else { return "Build from Dockerfile for repository \(repo)" }
            if value("trigger_manual") == "true" {
                return "Build from Dockerfile for repository \(repo) started manually"
                    + (value("manual_user").map { " by \($0)" } ?? "") + " from trigger - \(triggerDescription)"
            }
            return "Build from Dockerfile for repository \(repo) triggered by \(triggerDescription)"
        case "cancel_build": return "Cancel build \(value("build_uuid") ?? "?")"
        case "create_repo_trigger": return "Created build trigger \(value("service") ?? "?") for \(repo)"
        case "setup_repo_trigger": return "Setup build trigger - \(triggerDescription)"
        case "delete_repo_trigger": return "Delete build trigger - \(triggerDescription)"
        case "toggle_repo_trigger":
            return (value("enabled") == "true" ? "Build trigger enabled" : "Build trigger disabled") + " - \(triggerDescription)"
        case "start_build_trigger": return "Manually start build from trigger - \(triggerDescription)"

        // Notifications
        case "add_repo_notification": return "Add notification of event \"\(eventTitle)\" for repository \(repo)"
        case "delete_repo_notification": return "Delete notification of event \"\(eventTitle)\" for repository \(repo)"
        case "reset_repo_notification": return "Re-enable notification of event \"\(eventTitle)\" for repository \(repo)"

        // Robots
        case "create_robot": return "Create Robot Account \(robot)"
        case "delete_robot": return "Delete Robot Account \(robot)"
        case "regenerate_robot_token": return "Regenerated token for robot \(robot)"
        case "create_robot_federation": return "Create robot federation for robot \(robot)"
        case "delete_robot_federation": return "Delete robot federation for robot \(robot)"
        case "federated_robot_token_exchange":
            return "Exchanged an OIDC token of \(value("issuer") ?? "?") (subject \(value("subject") ?? "?")) for a token of robot \(robot)"

        // Organizations and teams
        case "org_create": return value("orgname").map { "Organization \($0) created" } ?? "Organization created"
        case "org_delete": return "Organization \(organization) deleted"
        case "org_change_settings": return "Change settings of organization \(organization)"
        case "org_remove_member": return "Remove member \(value("membername") ?? "?") from organization \(organization)"
        case "org_create_team": return "Create team \(team) in organization \(organization)"
        case "org_delete_team": return "Delete team \(team) in organization \(organization)"
        case "org_add_team_member" where value("synced_group") != nil:
            return "Team sync added \(value("member") ?? "?") to team \(team) (group \(value("synced_group")!) of \(value("service") ?? "?"))"
        case "org_add_team_member": return "Add member \(value("membername") ?? value("member") ?? "?") to team \(team) in organization \(organization)"
        case "org_remove_team_member" where value("synced_group") != nil:
            return "Team sync removed \(value("member") ?? "?") from team \(team) (not in group \(value("synced_group")!) of \(value("service") ?? "?"))"
        case "org_remove_team_member":
            return "Remove member \(value("membername") ?? value("member") ?? "?") from team \(team) in organization \(organization)"
        case "org_enable_team_sync":
            return "Enable directory synchronization of team \(team) with group \(value("group_name") ?? "?") of \(value("service") ?? "?")"
        case "org_disable_team_sync": return "Disable directory synchronization of team \(team)"
        case "org_invite_team_member": return "Invite \(value("user") ?? value("email") ?? "?") to team \(team)"
        case "org_team_member_invite_accepted":
            return "User \(value("member") ?? entry.performerName ?? "?") accepted an invitation to join a team"
        case "org_team_member_invite_declined":
            return "User \(value("member") ?? entry.performerName ?? "?") declined an invitation to join a team"
        case "create_prototype_permission": return "Create default permission in organization \(organization)"
        case "modify_prototype_permission": return "Modify default permission \(value("prototypeid") ?? "?") in organization \(organization)"
        case "delete_prototype_permission": return "Delete default permission \(value("prototypeid") ?? "?") in organization \(organization)"

        // Accounts, applications and tokens
        case "user_change_settings": return "Change account settings of \(entry.namespaceName ?? entry.performerName ?? "?")"
        case "user_delete": return "User \(value("username") ?? entry.namespaceName ?? entry.performerName ?? "?") deleted"
        // The superuser panel's actions name the account acted on in `username`.
        case "user_create": return "Create user \(value("username") ?? "?")"
        case "user_disable": return "Disable user \(value("username") ?? "?")"
        case "user_enable": return "Enable user \(value("username") ?? "?")"
        case "user_change_email": return "Change e-mail of user \(value("username") ?? "?")"
        case "user_change_password": return "Change password of user \(value("username") ?? "?")"
        case "create_message": return "Create \(value("severity") ?? "") message \(value("uuid") ?? "?")"
        case "delete_message": return "Delete message \(value("uuid") ?? "?")"
        case "create_app_specific_token":
            return "Created external application token" + (value("app_specific_token_title").map { " \($0)" } ?? "")
        case "revoke_app_specific_token":
            return "Revoked external application token" + ((value("app_specific_token_title") ?? value("token_uuid")).map { " \($0)" } ?? "")
        case "create_application":
            return "Create application" + (value("application_name").map { " \($0)" } ?? "") + " in organization \(organization)"
        case "update_application": return "Update application with client ID \(value("client_id") ?? "?") in organization \(organization)"
        case "delete_application": return "Delete application with client ID \(value("client_id") ?? "?") in organization \(organization)"
        case "create_oauth_token":
            return "Create OAuth token for application with client ID \(value("client_id") ?? "?") in organization \(organization)"
        case "revoke_oauth_token":
            return "Revoke OAuth token \(value("token_uuid") ?? "?") of application with client ID \(value("client_id") ?? "?")"
                + " in organization \(organization)"

        // Sign-ins and exports
        case "login_success": return loginSuccess
        case "detach_external_login": return "Unlinked the sign-in through \(value("service") ?? "?") (subject \(value("subject") ?? "?"))"
        case "attach_external_login": return "Linked a sign-in through \(value("service") ?? "?") (subject \(value("subject") ?? "?"))"
        case "login_failure": return loginFailure
        case "logout_success": return "Logout from Slipway"
        case "export_logs_success": return exportQueued

        default: return nil
        }
    }

    private var role: String { value("role").map { " to \($0)" } ?? "" }

    private var organization: String { value("orgname") ?? entry.namespaceName ?? "?" }

    private var team: String { value("teamname") ?? value("team") ?? "?" }

    /// `owner+short`, the robot's full name (Quay records `robot`; the routes name the short
    /// name and, for an organization's robot, the organization).
    private var robot: String {
        if let full = value("robot") { return full }
        let owner = value("orgname") ?? entry.namespaceName ?? "?"
        return "\(owner)+\(value("robot_shortname") ?? "?")"
    }

    /// A JSON object stored as a metadata string (`config`, `trigger_metadata`).
    private func object(_ key: String) -> [String: Any]? {
        guard let text = value(key), let data = text.data(using: .utf8) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    /// The trigger in Quay's words (`TriggerDescription`), its source from the trigger's config,
    /// the build's trigger metadata, or the trigger itself.
    private var triggerDescription: String {
        let source = object("config")?["build_source"] as? String
            ?? object("trigger_metadata")?["git_url"] as? String
            ?? value("trigger_id").flatMap { triggerSources[$0] }
        return TriggerDescription.text(service: value("service") ?? value("trigger_kind"), buildSource: source)
    }

    /// The titles the notification dialog gives each event.
    static let eventTitles = [
        "repo_push": "Push to Repository", "build_queued": "Image build queued", "build_start": "Image build started",
        "build_success": "Image build success", "build_failure": "Image build failed", "build_cancelled": "Image build cancelled",
        "repo_image_expiry": "Image expiry trigger",
    ]

    private var eventTitle: String {
        let event = value("event") ?? "?"
        return Self.eventTitles[event] ?? event
    }

    private var userAgent: String {
        guard let agent = value("useragent") else { return "" }
        return " with user-agent " + (agent.count > 64 ? String(agent.prefix(64)) + "..." : agent)
    }

    private var loginSuccess: String {
        // A browser's user agent says nothing useful; a registry client's names the tool.
        if value("type") == "oidc" { return "Login to Slipway through \(value("service") ?? "single sign-on")" }
        guard value("type") == "v2auth" else { return "Login to Slipway" }
        switch value("kind") {
        case "robot": return "Login to registry with robot \(entry.performerName ?? "?")" + userAgent
        case "oauthtoken": return "Login to registry with an OAuth token" + userAgent
        case "token": return "Login to registry with a repository token" + userAgent
        default: return "Login to registry" + userAgent
        }
    }

    private var loginFailure: String {
        var message: String
        if value("type") == "v2auth" {
            message = "Login to registry failed"
            switch value("kind") {
            case "robot": message += " with robot \(value("username") ?? "?")"
            case "user": message += " with user \(value("username") ?? "?")"
            case "token": message += " with a token"
            default: break
            }
        } else if value("type") == "oidc" {
            message = "Login to Slipway through single sign-on failed"
        } else {
            message = "Login to Slipway failed" + (value("username").map { " with username \($0)" } ?? "")
        }
        return message + (value("message").map { " with message: \($0)" } ?? "")
    }

    private var exportQueued: String {
        var parts = ["id \(value("export_id") ?? "?")"]
        if let url = value("url") { parts.append("url: \(url)") }
        if let email = value("email") { parts.append("email: \(Self.obfuscate(email))") }
        if hasRepository { return "Logs export queued for delivery: " + (parts + ["repository: \(repository)"]).joined(separator: ", ") }
        return "User/organization logs export queued for delivery: " + parts.joined(separator: ", ")
    }

    /// `ad***@example.com`, as Quay shows an export's address.
    static func obfuscate(_ email: String) -> String {
        guard let at = email.firstIndex(of: "@") else { return String(repeating: "*", count: email.count) }
        let local = email[..<at]
        return String(local.prefix(2)) + String(repeating: "*", count: max(0, local.count - 2)) + String(email[at...])
    }
}
