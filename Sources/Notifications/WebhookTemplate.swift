import Foundation
import Registry
import SlipwayCore

/// A user-supplied webhook body (Quay's `JSONTemplate`): any JSON document whose strings may hold
/// `${path}` expressions, `path` being a field of the event payload (`repository`,
/// `trigger_metadata.ref`, `updated_tags[0]`). A string that is exactly one expression becomes the
/// field's JSON value; expressions inside longer strings are replaced by its text (lists joined
/// with commas, a missing field by `(none)`).
struct WebhookTemplate: Sendable {
    enum Step: Sendable, Equatable {
        case key(String)
        case index(Int)
    }

    let document: EventValue

    /// Parses and checks the template against the fields `event` has. The error says what is wrong.
    init(_ text: String, event: String) throws(TemplateError) {
        guard let document = EventValue.parse(text) else {
            throw TemplateError("the webhook template is not valid JSON")
        }
        self.document = document
        let known = NotificationCatalog.fields(of: event)
        try Self.visitStrings(document) { (string: String) throws(TemplateError) in
            for expression in Self.expressions(in: string) {
                let steps = try Self.parsePath(expression)
                guard case .key(let first) = steps.first, known.contains(first) else {
                    throw TemplateError("the webhook template references ${\(expression)}, which the \(event) event does not have "
                                        + "(fields: \(known.sorted().joined(separator: ", ")))")
                }
            }
        }
    }

    struct TemplateError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// The body for one event.
    func apply(to payload: [String: EventValue]) -> EventValue {
        Self.apply(document, .object(payload))
    }

    // MARK: Implementation

    static func visitStrings(_ value: EventValue, _ body: (String) throws(TemplateError) -> Void) throws(TemplateError) {
        switch value {
        case .string(let s): try body(s)
        case .strings(let list): for s in list { try body(s) }
        case .array(let list): for v in list { try visitStrings(v, body) }
        case .object(let members):
            for (k, v) in members {
                try body(k)
                try visitStrings(v, body)
            }
        default: break
        }
    }

    /// The text between each `${` and the next `}`.
    static func expressions(in string: String) -> [String] {
        var out: [String] = []
        var rest = Substring(string)
        while let start = rest.range(of: "${") {
            let after = rest[start.upperBound...]
            guard let end = after.firstIndex(of: "}") else { break }
            out.append(String(after[..<end]))
            rest = after[after.index(after: end)...]
        }
        return out
    }

    static func parsePath(_ expression: String) throws(TemplateError) -> [Step] {
        let text = expression.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { throw TemplateError("the webhook template has an empty ${} expression") }
        var steps: [Step] = []
        var i = text.startIndex
        func isNameChar(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" || c == "-" }
        while i < text.endIndex {
            let c = text[i]
            if c == "[" {
                guard let close = text[i...].firstIndex(of: "]"), let n = Int(text[text.index(after: i)..<close]), n >= 0 else {
                    throw TemplateError("the webhook template expression ${\(expression)} has an invalid index")
                }
                steps.append(.index(n))
                i = text.index(after: close)
            } else if c == "." && !steps.isEmpty {
                i = text.index(after: i)
                guard i < text.endIndex, isNameChar(text[i]) else {
                    throw TemplateError("the webhook template expression ${\(expression)} is not a field path")
                }
            } else if isNameChar(c) {
                var j = i
                while j < text.endIndex, isNameChar(text[j]) { j = text.index(after: j) }
                steps.append(.key(String(text[i..<j])))
                i = j
            } else {
                throw TemplateError("the webhook template expression ${\(expression)} is not a field path (use names, dots and [n])")
            }
        }
        return steps
    }

    static func lookup(_ steps: [Step], in root: EventValue) -> EventValue? {
        var current: EventValue? = root
        for step in steps {
            switch (step, current) {
            case (.key(let k), .object(let o)?): current = o[k]
            case (.index(let n), .strings(let l)?): current = n < l.count ? .string(l[n]) : nil
            case (.index(let n), .array(let l)?): current = n < l.count ? l[n] : nil
            default: return nil
            }
        }
        return current
    }

    static func text(of value: EventValue?) -> String {
        switch value {
        case nil, .null?: return "(none)"
        case .string(let s)?: return s
        case .int(let n)?: return String(n)
        case .bool(let b)?: return b ? "True" : "False"
        case .strings(let l)?: return l.joined(separator: ",")
        case .array(let l)?: return l.map { text(of: $0) }.joined(separator: ",")
        case .object?:
            return (try? JSONEncoder().encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
    }

    static func substitute(_ string: String, _ data: EventValue) -> EventValue {
        let found = expressions(in: string)
        if found.count == 1, string == "${\(found[0])}" {
            return (try? parsePath(found[0])).flatMap { lookup($0, in: data) } ?? .null
        }
        var out = string
        for expression in found {
            let value = (try? parsePath(expression)).flatMap { lookup($0, in: data) }
            if let range = out.range(of: "${\(expression)}") { out.replaceSubrange(range, with: text(of: value)) }
        }
        return .string(out)
    }

    static func apply(_ template: EventValue, _ data: EventValue) -> EventValue {
        switch template {
        case .string(let s): return substitute(s, data)
        case .strings(let l): return .array(l.map { substitute($0, data) })
        case .array(let l): return .array(l.map { apply($0, data) })
        case .object(let members):
            var out: [String: EventValue] = [:]
            for (k, v) in members { out[text(of: substitute(k, data))] = apply(v, data) }
            return .object(out)
        default: return template
        }
    }
}
