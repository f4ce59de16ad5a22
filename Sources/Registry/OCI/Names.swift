import Accounts

/// Validation of the names users choose, following Quay's rules (quay-reference §2.4, §1.1, §1.2).
/// Hand-written matchers rather than regexes: they run on every registry request.
public enum Names {
    /// Namespace, user, organization and robot short names: `^([a-z0-9]+(?:[._-][a-z0-9]+)*)$`, 2–255.
    public static func isValidNamespace(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count >= 2, u.count <= 255 else { return false }
        var previousWasSeparator = true  // a name may not start with a separator
        for c in u {
            if isLowerAlnum(c) {
                previousWasSeparator = false
            } else if c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-") {
                if previousWasSeparator { return false }
                previousWasSeparator = true
            } else {
                return false
            }
        }
        return !previousWasSeparator
    }

    /// Repository name inside a namespace (nested allowed):
    /// `^(?=.{0,255}$)[a-z0-9][\.a-z0-9_-]*(?:\/[a-z0-9][\.a-z0-9_-]*)*$`.
    public static func isValidRepositoryName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard !u.isEmpty, u.count <= 255 else { return false }
        var atComponentStart = true
        for c in u {
            if c == UInt8(ascii: "/") {
                if atComponentStart { return false }
                atComponentStart = true
            } else if atComponentStart {
                guard isLowerAlnum(c) else { return false }
                atComponentStart = false
            } else {
                guard isLowerAlnum(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-") else { return false }
            }
        }
        return !atComponentStart
    }

    /// Tag: `^[\w][\w.-]{0,127}$` (ASCII word characters).
    public static func isValidTag(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard !u.isEmpty, u.count <= 128 else { return false }
        for (i, c) in u.enumerated() {
            let word = isAlnum(c) || c == UInt8(ascii: "_")
            if i == 0 { guard word else { return false } } else {
                guard word || c == UInt8(ascii: ".") || c == UInt8(ascii: "-") else { return false }
            }
        }
        return true
    }

    /// Passwords: at least 8 characters, no whitespace.
    public static func passwordProblem(_ s: String) -> String? {
        if s.count < 8 { return "password must be at least 8 characters" }
        if s.contains(where: { $0.isWhitespace }) { return "password must not contain whitespace" }
        return nil
    }

    public static let tagRule = "tags use A-Z, a-z, 0-9, '_', '.' and '-', do not start with '.' or '-', and are 1 to 128 characters"

    private static func isLowerAlnum(_ c: UInt8) -> Bool {
        (c >= 97 && c <= 122) || (c >= 48 && c <= 57)
    }

    private static func isAlnum(_ c: UInt8) -> Bool {
        isLowerAlnum(c) || (c >= 65 && c <= 90)
    }
}

extension RepositoryPath {
    /// Parses the `<name>` of a `/v2/<name>/...` path (already percent-decoded by the caller).
    public init(parsing full: String) throws(RegistryError) {
        if full.isEmpty { throw .nameInvalid("the name is empty") }
        if full.utf8.count > 255 + 1 + 255 { throw .nameInvalid("the name is too long") }
        let ns: String
        let repo: String
        if let slash = full.firstIndex(of: "/") {
            ns = String(full[..<slash])
            repo = String(full[full.index(after: slash)...])
        } else {
            ns = Self.libraryNamespace
            repo = full
        }
        guard Names.isValidNamespace(ns) else {
            throw .nameInvalid("namespace '\(ns.prefix(64))' must be 2-255 characters of a-z, 0-9 and single '.', '_' or '-' between them")
        }
        guard Names.isValidRepositoryName(repo) else {
            throw .nameInvalid("repository '\(repo.prefix(64))' must start each path component with a-z or 0-9 and use only a-z, 0-9, '.', '_', '-'")
        }
        self.init(namespace: ns, name: repo)
    }
}
