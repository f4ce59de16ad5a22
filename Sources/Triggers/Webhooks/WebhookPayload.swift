import Foundation
import Registry
import SlipwayCore

/// Turns a webhook body into Quay's normalised trigger metadata (§4.1): `commit`, `ref`,
/// `default_branch`, `commit_info{url, message, date, author, committer}`. Four shapes are
/// understood (§4.2, §4.3): the custom-git JSON of the guide, GitHub push, GitLab push/tag push
/// and Bitbucket push. The provider's event header picks the parser; without one the body's shape
/// does (custom first, as Quay tries it first). Only the fields named here are copied into the
/// metadata, never the rest of the body. `git_url` is not taken from the payload: a trigger
/// always clones its own configured `build_source`.
enum WebhookPayload {
    enum Outcome: Equatable {
        case build([String: EventValue])
        /// Nothing to build (ping, branch deletion, not a push); answered 200 with the reason.
        case skip(String)
    }

    struct Invalid: Error, Equatable { let message: String }

    struct Headers: Sendable {
        var githubEvent: String?
        var gitlabEvent: String?
        var bitbucketEvent: String?
    }

    static func parse(_ body: [UInt8], headers: Headers, defaultBranch: String?) throws(Invalid) -> Outcome {
        guard let value = try? JSONDecoder().decode(EventValue.self, from: Data(body)) else {
            throw Invalid(message: "the webhook body is not valid JSON")
        }
        guard case .object(let root) = value else { throw Invalid(message: "the webhook body must be a JSON object") }
        let json = JSONPath(root: root)
        if let event = headers.githubEvent?.lowercased() {
            if event == "ping" { return .skip("ping event") }
            guard event == "push" else { return .skip("GitHub event '\(event.prefix(64))' is not a push") }
            return try github(json, defaultBranch: defaultBranch)
        }
        if let event = headers.gitlabEvent {
            _ = event
            return try gitlab(json, defaultBranch: defaultBranch)
        }
        if let event = headers.bitbucketEvent?.lowercased() {
            if event == "diagnostics:ping" { return .skip("ping event") }
            guard event == "repo:push" else { return .skip("Bitbucket event '\(event.prefix(64))' is not a push") }
            return try bitbucket(json, defaultBranch: defaultBranch)
        }
        if root["commit"] != nil { return try custom(json) }
        if root["zen"] != nil || (root["hook_id"] != nil && root["head_commit"] == nil) { return .skip("ping event") }
        if root["head_commit"] != nil { return try github(json, defaultBranch: defaultBranch) }
        if root["push"] != nil { return try bitbucket(json, defaultBranch: defaultBranch) }
        if root["object_kind"] != nil { return try gitlab(json, defaultBranch: defaultBranch) }
        return try custom(json)
    }

    // MARK: custom-git (the guide's "Webhook" section)

    static func custom(_ j: JSONPath) throws(Invalid) -> Outcome {
        let commit = try j.requiredString("commit")
        guard GitRefRules.isCommitID(commit) else { throw Invalid(message: "'commit' must be a commit id of 7 to 64 hexadecimal digits") }
        let ref = try j.requiredString("ref")
        let branch = try j.requiredString("default_branch")
        if GitRefRules.isZeroCommit(commit) { return .skip("\(ref) was deleted") }
        var meta = try refAndBranch(ref: ref, defaultBranch: branch, field: "ref")
        meta["commit"] = .string(commit.lowercased())
        if j.has("commit_info") {
            guard case .object? = j.value("commit_info") else { throw Invalid(message: "'commit_info' must be an object") }
            var info: [String: EventValue] = [
                "url": .string(try j.requiredString("commit_info.url")),
                "message": .string(try j.requiredString("commit_info.message")),
                "date": .string(try j.requiredString("commit_info.date")),
            ]
            for who in ["author", "committer"] where j.has("commit_info.\(who)") {
                guard case .object? = j.value("commit_info.\(who)") else { throw Invalid(message: "'commit_info.\(who)' must be an object") }
                info[who] = .object([
                    "username": .string(try j.requiredString("commit_info.\(who).username")),
                    "url": .string(try j.requiredString("commit_info.\(who).url")),
                    "avatar_url": .string(try j.requiredString("commit_info.\(who).avatar_url")),
                ])
            }
            meta["commit_info"] = .object(info)
        }
        return .build(meta)
    }

    // MARK: GitHub push

    static func github(_ j: JSONPath, defaultBranch: String?) throws(Invalid) -> Outcome {
        if j.has("zen") { return .skip("ping event") }
        let ref = try j.requiredString("ref")
        if case .bool(true)? = j.value("deleted") { return .skip("\(ref) was deleted") }
        if let after = j.string("after"), GitRefRules.isZeroCommit(after) { return .skip("\(ref) was deleted") }
        guard let head = j.value("head_commit"), head != .null else { return .skip("\(ref) was deleted (no head commit)") }
        guard case .object = head else { throw Invalid(message: "'head_commit' must be an object") }
        let commit = try j.requiredString("head_commit.id")
        guard GitRefRules.isCommitID(commit) else { throw Invalid(message: "'head_commit.id' is not a commit id") }
        let branch = j.string("repository.default_branch") ?? j.string("repository.master_branch") ?? defaultBranch
        var meta = try refAndBranch(ref: ref, defaultBranch: branch, field: "ref")
        meta["commit"] = .string(commit.lowercased())
        var info: [String: EventValue] = [:]
        if let url = j.string("head_commit.url") { info["url"] = .string(url) }
        info["message"] = .string(j.string("head_commit.message") ?? "")
        if let date = j.string("head_commit.timestamp") { info["date"] = .string(date) }
        // GitHub names the author's account but not its profile or avatar; the sender (who
        // pushed) carries both, so use them when the sender is the author.
        for who in ["author", "committer"] {
            guard let username = j.string("head_commit.\(who).username") else { continue }
            var person: [String: EventValue] = ["username": .string(username)]
            if j.string("sender.login") == username {
                if let url = j.string("sender.html_url") { person["url"] = .string(url) }
                if let avatar = j.string("sender.avatar_url") { person["avatar_url"] = .string(avatar) }
            }
            info[who] = .object(person)
        }
        meta["commit_info"] = .object(info)
        return .build(meta)
    }

    // MARK: GitLab push / tag push

    static func gitlab(_ j: JSONPath, defaultBranch: String?) throws(Invalid) -> Outcome {
        let kind = j.string("object_kind") ?? j.string("event_name") ?? ""
        guard kind == "push" || kind == "tag_push" else { return .skip("GitLab event '\(kind.prefix(64))' is not a push") }
        let ref = try j.requiredString("ref")
        let sha = j.string("checkout_sha") ?? j.string("after") ?? ""
        if sha.isEmpty || GitRefRules.isZeroCommit(sha) { return .skip("\(ref) was deleted") }
        guard GitRefRules.isCommitID(sha) else { throw Invalid(message: "'checkout_sha' is not a commit id") }
        let branch = j.string("project.default_branch") ?? j.string("repository.default_branch") ?? defaultBranch
        var meta = try refAndBranch(ref: ref, defaultBranch: branch, field: "ref")
        meta["commit"] = .string(sha.lowercased())
        // The pushed commit's details, when the payload lists it (tag pushes usually do not).
        if case .array(let commits)? = j.value("commits"), let c = commits.first(where: { $0["id"]?.stringValue == sha }) {
            var info: [String: EventValue] = ["message": .string(c["message"]?.stringValue ?? "")]
            if let url = c["url"]?.stringValue { info["url"] = .string(url) }
            if let date = c["timestamp"]?.stringValue { info["date"] = .string(date) }
            if let email = c["author"]?["email"]?.stringValue, email == j.string("user_email"), let username = j.string("user_username") {
                var person: [String: EventValue] = ["username": .string(username)]
                if let web = j.string("project.web_url"), let u = URLComponents(string: web), let scheme = u.scheme, let host = u.host {
                    person["url"] = .string("\(scheme)://\(host)\(u.port.map { ":\($0)" } ?? "")/\(username)")
                }
                if let avatar = j.string("user_avatar") { person["avatar_url"] = .string(avatar) }
                info["author"] = .object(person)
            }
            meta["commit_info"] = .object(info)
        }
        return .build(meta)
    }

    // MARK: Bitbucket push

    static func bitbucket(_ j: JSONPath, defaultBranch: String?) throws(Invalid) -> Outcome {
        guard case .array(let changes)? = j.value("push.changes") else { throw Invalid(message: "'push.changes' is a required property") }
        guard let last = changes.last else { return .skip("the push has no changes") }
        guard let new = last["new"], new != .null else { return .skip("a branch or tag was deleted") }
        let change = JSONPath(root: { if case .object(let o) = new { return o } else { return [:] } }())
        let name = try change.requiredString("name", prefix: "push.changes[-1].new.")
        let type = change.string("type") ?? "branch"
        let ref = (type == "branch" || type == "named_branch") ? "refs/heads/\(name)" : "refs/tags/\(name)"
        let commit = try change.requiredString("target.hash", prefix: "push.changes[-1].new.")
        guard GitRefRules.isCommitID(commit) else { throw Invalid(message: "'push.changes[-1].new.target.hash' is not a commit id") }
        let branch = j.string("repository.mainbranch.name") ?? defaultBranch
        var meta = try refAndBranch(ref: ref, defaultBranch: branch, field: "push.changes[-1].new.name")
        meta["commit"] = .string(commit.lowercased())
        var info: [String: EventValue] = ["message": .string(change.string("target.message") ?? "")]
        if let url = change.string("target.links.html.href") { info["url"] = .string(url) }
        if let date = change.string("target.date") { info["date"] = .string(date) }
        func person(_ p: JSONPath, _ base: String) -> EventValue? {
            guard let username = p.string(base + "nickname") ?? p.string(base + "display_name") else { return nil }
            var o: [String: EventValue] = ["username": .string(username)]
            if let url = p.string(base + "links.html.href") { o["url"] = .string(url) }
            if let avatar = p.string(base + "links.avatar.href") { o["avatar_url"] = .string(avatar) }
            return .object(o)
        }
        if let author = person(change, "target.author.user.") { info["author"] = author }
        if let committer = person(j, "actor.") { info["committer"] = committer }
        meta["commit_info"] = .object(info)
        return .build(meta)
    }

    /// `ref` checked against git's ref rules, and `default_branch` when there is one.
    static func refAndBranch(ref: String, defaultBranch: String?, field: String) throws(Invalid) -> [String: EventValue] {
        guard GitRefRules.parse(ref) != nil else {
            throw Invalid(message: "'\(field)' must be a git ref of the form refs/heads/<branch> or refs/tags/<tag> (got '\(ref.prefix(100))')")
        }
        var meta: [String: EventValue] = ["ref": .string(ref)]
        if let defaultBranch, !defaultBranch.isEmpty {
            guard GitRefRules.isValidName(defaultBranch) else { throw Invalid(message: "'default_branch' is not a valid branch name") }
            meta["default_branch"] = .string(defaultBranch)
        }
        return meta
    }
}

/// Dotted-path reads of a JSON object, with errors that name the field.
struct JSONPath {
    let root: [String: EventValue]

    func value(_ path: String) -> EventValue? {
        var current: EventValue? = .object(root)
        for key in path.split(separator: ".") { current = current?[String(key)] }
        return current
    }

    func has(_ path: String) -> Bool {
        if let v = value(path), v != .null { return true }
        return false
    }

    func string(_ path: String) -> String? { value(path)?.stringValue }

    func requiredString(_ path: String, prefix: String = "") throws(WebhookPayload.Invalid) -> String {
        switch value(path) {
        case nil, .null?: throw WebhookPayload.Invalid(message: "'\(prefix)\(path)' is a required property")
        case .string(let s)?: return s
        default: throw WebhookPayload.Invalid(message: "'\(prefix)\(path)' must be a string")
        }
    }
}
