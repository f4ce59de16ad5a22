import Foundation

/// The username a first OIDC sign-in proposes (the guide's "confirm the automatically-generated
/// username"): the provider's username claim, else the e-mail's local part, made into a valid
/// Quay username, with a number appended while the name is taken.
public enum UsernameSuggestion {
    /// Lower-case, characters outside `[a-z0-9._-]` become `_`, runs of separators collapse to
    /// one, no separator at either end, at most 30 characters, at least 2 (else "user").
    public static func base(_ raw: String) -> String {
        var out = ""
        var lastWasSeparator = true
        for ch in raw.lowercased().unicodeScalars {
            let c = Character(ch)
            if ch.isASCII, c.isLetter || c.isNumber {
                out.append(c)
                lastWasSeparator = false
            } else if !lastWasSeparator {
                out.append(ch == "." || ch == "-" ? c : "_")
                lastWasSeparator = true
            }
            if out.count >= 30 { break }
        }
        while let last = out.last, !last.isLetter, !last.isNumber { out.removeLast() }
        return out.count >= 2 ? out : "user" + out
    }

    /// `base`, or `base2`, `base3`, ... : the first that `isTaken` says is free.
    public static func suggest(from claims: [String: String], usernameClaim: String, emailClaim: String,
                               isTaken: (String) async throws -> Bool) async throws -> String {
        let raw = claims[usernameClaim].flatMap { $0.isEmpty ? nil : $0 }
            ?? claims[emailClaim].map { String($0.prefix { $0 != "@" }) } ?? "user"
        let stem = base(raw)
        if !(try await isTaken(stem)) { return stem }
        for n in 2...50 {
            let candidate = "\(stem)\(n)"
            if !(try await isTaken(candidate)) { return candidate }
        }
        return stem + String(PKCE.randomValue().lowercased().filter { $0.isLetter || $0.isNumber }.prefix(6))
    }
}
