import Foundation
import Registry
import SlipwayCore

/// Whether a webhook's push builds (§4.4; manual runs skip no build).
enum SkipRules {
    /// A reason not to build, or nil.
    static func reason(config: TriggerConfig, metadata: [String: EventValue]) -> String? {
        if let pattern = config.branchtagRegex, !pattern.isEmpty {
            let ref = metadata["ref"]?.stringValue ?? ""
            let target = ref.hasPrefix("refs/") ? String(ref.dropFirst(5)) : ref
            if !matchesWhole(pattern, target) {
                return "\(target.isEmpty ? "the push" : target) does not match the branch/tag filter \(pattern)"
            }
        }
        if let message = metadata["commit_info"]?["message"]?.stringValue {
            for marker in ["[skip build]", "[build skip]"] where message.contains(marker) {
                return "the commit message contains \(marker)"
            }
        }
        return nil
    }

    /// Whole-string match, as Quay's `matches_ref` (a match must cover the entire ref).
    static func matchesWhole(_ pattern: String, _ text: String) -> Bool {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return true }  // validated at activation
        let range = NSRange(text.startIndex..., in: text)
        guard let m = regex.firstMatch(in: text, options: [.anchored], range: range) else { return false }
        if m.range == range { return true }
        // The leftmost match may be shorter than a whole-string one (alternations): anchor both ends.
        guard let whole = try? NSRegularExpression(pattern: "^(?:\(pattern))$") else { return false }
        return whole.firstMatch(in: text, range: range) != nil
    }
}
