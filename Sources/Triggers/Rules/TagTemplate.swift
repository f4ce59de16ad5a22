import BuildOrchestrator
import Foundation
import Registry

/// A tag template such as `v-${commit_info.short_sha}` or `${parsed_ref.branch}` (guide: "Tag
/// naming for build triggers"; quay-reference §4.5). `${path}` is a dotted path into the
/// trigger metadata; everything else is literal. The guide's `${committer.properties.username}`
/// and `${author.properties.username}` (schema paths) mean `commit_info.committer.username` and
/// `commit_info.author.username`.
struct TagTemplate: Equatable {
    enum Part: Equatable { case literal(String), path([String]) }
    struct ParseError: Error, Equatable { let message: String }

    let parts: [Part]

    static func parse(_ text: String) -> Result<TagTemplate, ParseError> {
        var parts: [Part] = []
        var literal = ""
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            let next = text.index(after: i)
            if c == "$", next < text.endIndex, text[next] == "{" {
                guard let close = text[next...].firstIndex(of: "}") else {
                    return .failure(ParseError(message: "template '\(text)' has an unclosed '${'"))
                }
                let inner = text[text.index(after: next)..<close].trimmingCharacters(in: .whitespaces)
                let path = inner.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                let valid = !inner.isEmpty && path.allSatisfy { seg in
                    !seg.isEmpty && seg.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
                }
                guard valid else { return .failure(ParseError(message: "template '\(text)' has an invalid field '${\(inner)}'")) }
                if !literal.isEmpty { parts.append(.literal(literal)); literal = "" }
                parts.append(.path(Self.canonical(path)))
                i = text.index(after: close)
            } else {
                literal.append(c)
                i = next
            }
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        return .success(TagTemplate(parts: parts))
    }

    /// The fields a template may name (canonical paths into the trigger metadata, §4.1 plus
    /// `commit_info.short_sha` and `parsed_ref`). `${committer.properties.username}` and
    /// `${author.properties.username}` are accepted as aliases.
    static let variables = [
        "commit", "commit_info.short_sha", "ref", "parsed_ref.branch", "parsed_ref.tag", "parsed_ref.remote", "default_branch",
        "git_url", "commit_info.url", "commit_info.message", "commit_info.date",
        "commit_info.author.username", "commit_info.author.url", "commit_info.author.avatar_url",
        "commit_info.committer.username", "commit_info.committer.url", "commit_info.committer.avatar_url",
    ]

    /// The fields this template names that are not `variables`, as written in the template
    /// (after alias resolution).
    var unknownVariables: [String] {
        parts.compactMap { part in
            guard case .path(let path) = part else { return nil }
            let name = path.joined(separator: ".")
            return Self.variables.contains(name) ? nil : name
        }
    }

    static func canonical(_ path: [String]) -> [String] {
        if path.count >= 3, path[0] == "committer" || path[0] == "author", path[1] == "properties" {
            return ["commit_info", path[0]] + path.dropFirst(2)
        }
        return path
    }

    /// The rendered text, or nil when a field is missing (the tag is then dropped).
    func render(_ data: EventValue) -> String? {
        var out = ""
        for part in parts {
            switch part {
            case .literal(let s): out += s
            case .path(let path):
                var value: EventValue? = data
                for key in path { value = value?[key] }
                guard let text = value.flatMap(Self.text) else { return nil }
                out += text
            }
        }
        return out
    }

    static func text(_ v: EventValue) -> String? {
        switch v {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .strings(let a): return a.isEmpty ? nil : a.joined(separator: ",")
        case .array(let a):
            let items = a.compactMap(text)
            return items.isEmpty ? nil : items.joined(separator: ",")
        case .object, .null: return nil
        }
    }
}

/// The tags of a trigger build (`_determine_tags`, §4.5), in a stable order: the templates'
/// results, then the branch or tag name (`default_tag_from_ref`), then `latest` for a push to
/// the default branch (`latest_for_default_branch`); if nothing came out, the short SHA. Webhooks
/// and manual runs both come here, with metadata of the same shape. Every tag is escaped.
enum TriggerTags {
    static func compute(config: TriggerConfig, metadata: [String: EventValue]) -> [String] {
        var tags: [String] = []
        func add(_ t: String) {
            let escaped = BuildRequestRules.escapeTag(t)
            if !tags.contains(escaped) { tags.append(escaped) }
        }
        let commit = metadata["commit"]?.stringValue
        let parsed = metadata["ref"]?.stringValue.flatMap(GitRefRules.parse)
        if !config.tagTemplates.isEmpty {
            let data = EventValue.object(templateData(metadata))
            for text in config.tagTemplates {
                guard case .success(let template) = TagTemplate.parse(text) else { continue }
                if let rendered = template.render(data), !rendered.isEmpty { add(rendered) }
            }
        }
        if let parsed {
            if config.defaultTagFromRef { add(parsed.name) }
            if config.latestForDefaultBranch, parsed.kind == "heads", let branch = metadata["default_branch"]?.stringValue, branch == parsed.name {
                add("latest")
            }
        }
        if tags.isEmpty {
            // Every build knows its commit by now (a manual run by branch or tag resolves it
            // before queueing); `latest` only for a metadata-less call.
            if let commit { add(String(commit.prefix(7))) } else { add("latest") }
        }
        return tags
    }

    /// The metadata as templates see it: plus `commit_info.short_sha` and `parsed_ref`.
    static func templateData(_ metadata: [String: EventValue]) -> [String: EventValue] {
        var data = metadata
        var info: [String: EventValue] = [:]
        if case .object(let o)? = metadata["commit_info"] { info = o }
        if let commit = metadata["commit"]?.stringValue { info["short_sha"] = .string(String(commit.prefix(7))) }
        data["commit_info"] = .object(info)
        if let parsed = metadata["ref"]?.stringValue.flatMap(GitRefRules.parse) {
            let key = parsed.kind == "heads" ? "branch" : parsed.kind == "tags" ? "tag" : "remote"
            data["parsed_ref"] = .object([key: .string(parsed.name)])
        }
        return data
    }
}
