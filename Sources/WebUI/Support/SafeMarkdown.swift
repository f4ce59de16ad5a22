import Foundation

/// The small, safe Markdown subset banner messages are rendered with: paragraphs and line
/// breaks, `**bold**`, `*emphasis*`, `` `code` `` and `[text](url)` links. Everything is
/// HTML-escaped first, so raw HTML in a message stays text; links keep only `http:`, `https:`,
/// `mailto:` and same-site paths (a `javascript:` or `data:` link stays text).
enum SafeMarkdown {
    static func html(_ markdown: String) -> String {
        let paragraphs = markdown.replacingOccurrences(of: "\r\n", with: "\n")
            .components(separatedBy: "\n\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        return paragraphs.map { "<p>" + inline(escape($0)).replacingOccurrences(of: "\n", with: "<br>") + "</p>" }.joined()
    }

    /// Plain text: escaped, line breaks kept.
    static func plain(_ text: String) -> String {
        escape(text.trimmingCharacters(in: .whitespacesAndNewlines)).replacingOccurrences(of: "\n", with: "<br>")
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for ch in text {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(ch)
            }
        }
        return out
    }

    /// Applies the inline rules to already-escaped text; they add only fixed tags.
    static func inline(_ escaped: String) -> String {
        var text = escaped
        text = replace(text, #"`([^`\n]+)`"#) { "<code>\($0[1])</code>" }
        text = replace(text, #"\[([^\]\n]+)\]\(([^)\s]+)\)"#) { groups in
            guard let href = safeHref(groups[2]) else { return groups[0] }
            return "<a href=\"\(href)\" rel=\"noopener noreferrer\">\(groups[1])</a>"
        }
        text = replace(text, #"\*\*([^*\n]+)\*\*"#) { "<strong>\($0[1])</strong>" }
        text = replace(text, #"\*([^*\n]+)\*"#) { "<em>\($0[1])</em>" }
        return text
    }

    /// The link target if its scheme is allowed. `url` is escaped text, so it holds no quote or
    /// angle bracket; entity-encoded or whitespace-split schemes are refused by the allow-list.
    static func safeHref(_ url: String) -> String? {
        let lower = url.lowercased()
        if lower.hasPrefix("https://") || lower.hasPrefix("http://") || lower.hasPrefix("mailto:") { return url }
        if lower.hasPrefix("/") && !lower.hasPrefix("//") && !lower.hasPrefix("/\\") { return url }
        return nil
    }

    private static func replace(_ text: String, _ pattern: String, _ transform: ([String]) -> String) -> String {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return text }
        let ns = text as NSString
        var out = ""
        var last = 0
        for match in regex.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
            out += ns.substring(with: NSRange(location: last, length: match.range.location - last))
            let groups = (0..<match.numberOfRanges).map { i -> String in
                let r = match.range(at: i)
                return r.location == NSNotFound ? "" : ns.substring(with: r)
            }
            out += transform(groups)
            last = match.range.location + match.range.length
        }
        out += ns.substring(from: last)
        return out
    }
}
